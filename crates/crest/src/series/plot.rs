//! `crest series plot`: a series with its band and its anomalies, to SVG or PNG.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use crest_series::detect::Detector;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::input;
use super::method::DetectorArgs;
use crate::Failure;

/// Arguments of `crest series plot`.
#[derive(Debug, Args)]
pub(crate) struct PlotArgs {
    /// The series: `timestamp,value` CSV (as `crest series score` reads it).
    #[arg(value_name = "INPUT.csv")]
    pub(crate) input: String,

    /// The picture to write: `.svg` or `.png`.
    #[arg(short = 'o', long = "output", value_name = "FILE", required = true)]
    pub(crate) output: PathBuf,

    #[command(flatten)]
    pub(crate) detector: DetectorArgs,

    /// Mark points whose anomaly score reaches this (0.33, about z = 4, is the ensemble's best
    /// threshold on the labeled benchmark).
    #[arg(long = "threshold", value_name = "SCORE", default_value_t = 0.33)]
    pub(crate) threshold: f64,

    /// Which series to draw when the input holds several (`metric key`).
    #[arg(long = "series", value_name = "NAME")]
    pub(crate) series: Option<String>,

    /// Picture width in pixels.
    #[arg(long = "width", default_value_t = 1400)]
    pub(crate) width: u32,

    /// Picture height in pixels.
    #[arg(long = "height", default_value_t = 700)]
    pub(crate) height: u32,
}

/// What the picture shows, slot by slot.
struct PlotData {
    title: String,
    times: Vec<f64>,
    values: Vec<Option<f64>>,
    scores: Vec<f64>,
    center: Vec<Option<f64>>,
    lower: Vec<Option<f64>>,
    upper: Vec<Option<f64>>,
    threshold: f64,
}

/// Runs `crest series plot`.
pub(crate) fn run(args: &PlotArgs) -> Result<(), Failure> {
    if !(0.0..=1.0).contains(&args.threshold) {
        return Err(Failure::Usage("--threshold must be between 0 and 1".to_string()));
    }
    if !(200..=10_000).contains(&args.width) || !(150..=10_000).contains(&args.height) {
        return Err(Failure::Usage(
            "--width and --height must be 200..10000 and 150..10000".to_string(),
        ));
    }
    let kind = match args.output.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase) {
        Some(e) if e == "svg" => Kind::Svg,
        Some(e) if e == "png" => Kind::Png,
        _ => {
            return Err(Failure::Usage(format!(
                "{}: the picture must end in .svg or .png",
                args.output.display()
            )));
        }
    };
    let readout = input::read_path(&args.input, &args.detector.read_spec()?)?;
    let series = match &args.series {
        Some(name) => readout.series.iter().find(|s| &s.name == name).ok_or_else(|| {
            let names: Vec<&str> = readout.series.iter().map(|s| s.name.as_str()).collect();
            Failure::Usage(format!(
                "--series '{name}' is not in the input (it has: {})",
                names.join(", ")
            ))
        })?,
        None => &readout.series[0],
    };
    let mut detector = args.detector.build(series.step).map_err(Failure::Usage)?;
    let columns = detector.columns();
    let col = |names: &[&str]| columns.iter().position(|c| names.contains(c));
    let (center_i, lower_i, upper_i) =
        (col(&["forecast", "baseline", "median", "mean"]), col(&["lower"]), col(&["upper"]));
    let method = args.detector.method.to_string();
    let mut data = PlotData {
        title: format!("{} — {method}", series.name),
        times: Vec::new(),
        values: Vec::new(),
        scores: Vec::new(),
        center: Vec::new(),
        lower: Vec::new(),
        upper: Vec::new(),
        threshold: args.threshold,
    };
    series.for_each_slot(|time, value, _| {
        let scored = detector.push(time, value);
        let fig = |i: Option<usize>| i.and_then(|i| scored.figures[i]).filter(|v| v.is_finite());
        data.times.push(time as f64);
        data.values.push(value);
        data.scores.push(scored.score);
        data.center.push(fig(center_i));
        data.lower.push(fig(lower_i));
        data.upper.push(fig(upper_i));
    });
    draw_to(&args.output, kind, (args.width, args.height), &data)?;
    let anomalies = data.scores.iter().filter(|s| **s >= args.threshold).count();
    eprintln!(
        "crest: wrote {} ({} points, {anomalies} anomalies at or above score {})",
        args.output.display(),
        data.times.len(),
        args.threshold
    );
    Ok(())
}

#[derive(Clone, Copy)]
enum Kind {
    Svg,
    Png,
}

fn draw_to(path: &Path, kind: Kind, size: (u32, u32), data: &PlotData) -> Result<()> {
    register_font()?;
    crate::fsutil::write_atomic_with(path, |tmp| {
        match kind {
            Kind::Svg => draw(SVGBackend::new(tmp, size).into_drawing_area(), data),
            Kind::Png => draw(BitMapBackend::new(tmp, size).into_drawing_area(), data),
        }
        .with_context(|| format!("{}: cannot draw", path.display()))
    })
}

/// The font for labels: `CREST_FONT`, else a common system sans-serif.
fn register_font() -> Result<()> {
    static DONE: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    let outcome = DONE.get_or_init(|| {
        let mut candidates: Vec<PathBuf> =
            std::env::var_os("CREST_FONT").map(PathBuf::from).into_iter().collect();
        candidates.extend(
            [
                "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
                "/usr/share/fonts/TTF/DejaVuSans.ttf",
                "/usr/share/fonts/dejavu/DejaVuSans.ttf",
                "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
                "/usr/share/fonts/truetype/freefont/FreeSans.ttf",
                "/System/Library/Fonts/Supplemental/Arial.ttf",
                "/Library/Fonts/Arial.ttf",
                "C:\\Windows\\Fonts\\arial.ttf",
            ]
            .map(PathBuf::from),
        );
        for path in candidates {
            if let Ok(bytes) = std::fs::read(&path) {
                // The font table wants 'static bytes; one font per process is a fair price.
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                if plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                    return Ok(());
                }
            }
        }
        Err("no TrueType font found for the labels; set CREST_FONT=/path/to/font.ttf".to_string())
    });
    outcome.clone().map_err(|e| anyhow!(e))
}

/// Contiguous runs of slots where `f` gives a value.
fn runs<T: Copy>(n: usize, f: impl Fn(usize) -> Option<T>) -> Vec<Vec<(usize, T)>> {
    let mut out: Vec<Vec<(usize, T)>> = Vec::new();
    let mut current = Vec::new();
    for i in 0..n {
        match f(i) {
            Some(v) => current.push((i, v)),
            None if !current.is_empty() => out.push(std::mem::take(&mut current)),
            None => {}
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// The unit of the time axis: days, hours or minutes, whichever gives a few whole ticks (the
/// axis runs in that unit, so its round numbers fall on midnights, hours or minutes).
fn time_unit(span_s: f64) -> f64 {
    if span_s >= 3.0 * 86_400.0 {
        86_400.0
    } else if span_s >= 3.0 * 3600.0 {
        3600.0
    } else {
        60.0
    }
}

fn time_label(unit: f64) -> impl Fn(&f64) -> String {
    let format = if unit >= 86_400.0 { "%a %m-%d" } else { "%m-%d %H:%M" };
    move |x: &f64| match jiff::Timestamp::from_second((x * unit).round() as i64) {
        Ok(ts) => ts.strftime(format).to_string(),
        Err(_) => format!("{x}"),
    }
}

fn draw<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, data: &PlotData) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("{e}");
    root.fill(&WHITE).map_err(err)?;
    let n = data.times.len();
    if n == 0 {
        bail!("the series has no points");
    }
    let unit = time_unit(data.times[n - 1] - data.times[0]);
    let times: Vec<f64> = data.times.iter().map(|t| t / unit).collect();
    let (x0, x1) = (times[0], times[n - 1].max(times[0] + 1.0 / unit));
    let label = time_label(unit);
    let all = data.values.iter().chain(&data.lower).chain(&data.upper).flatten().copied();
    let (lo, hi) = all.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) };
    let pad = ((hi - lo) * 0.05).max(1e-9);

    let height = root.dim_in_pixel().1;
    let (top, bottom) = root.split_vertically((height as f64 * 0.74) as u32);
    let mut chart = ChartBuilder::on(&top)
        .caption(&data.title, ("sans-serif", 22))
        .margin(10)
        .x_label_area_size(0)
        .y_label_area_size(70)
        .build_cartesian_2d(x0..x1, (lo - pad)..(hi + pad))
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_labels(10)
        .x_label_formatter(&label)
        .y_desc("value")
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(err)?;

    let band_color = RGBColor(120, 160, 220);
    let has_band = data.lower.iter().zip(&data.upper).any(|(l, u)| l.is_some() && u.is_some());
    if has_band {
        let bands = runs(n, |i| Some((data.lower[i]?, data.upper[i]?)));
        for (k, run) in bands.iter().enumerate() {
            let mut poly: Vec<(f64, f64)> = run.iter().map(|&(i, (_, u))| (times[i], u)).collect();
            poly.extend(run.iter().rev().map(|&(i, (l, _))| (times[i], l)));
            let drawn = chart
                .draw_series(std::iter::once(Polygon::new(poly, band_color.mix(0.30).filled())))
                .map_err(err)?;
            if k == 0 {
                drawn.label("expected band").legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 20, y + 5)], band_color.mix(0.30).filled())
                });
            }
        }
    }
    for (k, run) in runs(n, |i| data.center[i]).iter().enumerate() {
        let line =
            LineSeries::new(run.iter().map(|&(i, v)| (times[i], v)), band_color.stroke_width(1));
        let drawn = chart.draw_series(line).map_err(err)?;
        if k == 0 {
            drawn
                .label("expected")
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], band_color));
        }
    }
    let value_color = RGBColor(40, 40, 40);
    for (k, run) in runs(n, |i| data.values[i]).iter().enumerate() {
        let line =
            LineSeries::new(run.iter().map(|&(i, v)| (times[i], v)), value_color.stroke_width(1));
        let drawn = chart.draw_series(line).map_err(err)?;
        if k == 0 {
            drawn
                .label("value")
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], value_color));
        }
    }
    let alert = RGBColor(214, 39, 40);
    let marks: Vec<(f64, f64)> = (0..n)
        .filter(|&i| data.scores[i] >= data.threshold)
        .filter_map(|i| Some((times[i], data.values[i]?)))
        .collect();
    let count = marks.len();
    chart
        .draw_series(marks.into_iter().map(|p| Circle::new(p, 4, alert.filled())))
        .map_err(err)?
        .label(format!("anomaly ({count})"))
        .legend(move |(x, y)| Circle::new((x + 10, y), 4, alert.filled()));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(200, 200, 200))
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(err)?;

    let mut scores = ChartBuilder::on(&bottom)
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(70)
        .build_cartesian_2d(x0..x1, 0.0..1.05)
        .map_err(err)?;
    scores
        .configure_mesh()
        .x_labels(10)
        .y_labels(3)
        .x_label_formatter(&label)
        .y_desc("score")
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(err)?;
    scores
        .draw_series(AreaSeries::new(
            (0..n).map(|i| (times[i], data.scores[i])),
            0.0,
            alert.mix(0.25),
        ))
        .map_err(err)?;
    scores
        .draw_series(LineSeries::new([(x0, data.threshold), (x1, data.threshold)], alert.mix(0.6)))
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}
