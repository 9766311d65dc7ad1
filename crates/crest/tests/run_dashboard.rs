//! The dashboard in a real browser: headless Chromium (Debian's `chromium`) loads the page of
//! a service that has run the bundled example, and must show its finding and chart it. The
//! screenshot lands in `target/crest-run/dashboard.png`. Skipped (and saying so) without
//! Chromium, unless `CREST_TEST_SERVICES=1`, which makes a missing browser a failure.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Running, workspace_root};

fn chromium() -> Option<PathBuf> {
    let candidates =
        [std::env::var("CREST_CHROMIUM").unwrap_or_default(), "/usr/bin/chromium".into()];
    candidates.iter().map(PathBuf::from).find(|p| p.is_file())
}

fn browse(browser: &Path, extra: &[&str], url: &str) -> std::process::Output {
    Command::new(browser)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"])
        .args(["--window-size=1280,1400", "--virtual-time-budget=8000"])
        .args(extra)
        .arg(url)
        .output()
        .expect("chromium runs")
}

#[test]
fn the_dashboard_shows_the_findings_of_a_run() {
    let Some(browser) = chromium() else {
        assert!(
            !crest_testing::services_required(),
            "CREST_TEST_SERVICES=1 but Chromium is missing (apt-get install chromium)"
        );
        eprintln!("SKIPPED the_dashboard_shows_the_findings_of_a_run: no /usr/bin/chromium");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut text = String::new();
    let gz = std::fs::File::open(workspace_root().join("examples/auth-logs.jsonl.gz")).unwrap();
    flate2::read::MultiGzDecoder::new(gz).read_to_string(&mut text).unwrap();
    std::fs::write(dir.join("auth.jsonl"), text).unwrap();
    let mut text = String::new();
    let gz =
        std::fs::File::open(workspace_root().join("examples/sandbox-telemetry.json.gz")).unwrap();
    flate2::read::MultiGzDecoder::new(gz).read_to_string(&mut text).unwrap();
    std::fs::write(dir.join("sandbox.json"), text).unwrap();
    std::fs::write(
        dir.join("dash.toml"),
        "[service]\nlisten = \"127.0.0.1:0\"\n\
         [sources.auth]\ntype = \"file\"\npath = \"auth.jsonl\"\nfollow = true\n\
         [pipelines.exfil]\ndetector = \"series\"\nsources = [\"auth\"]\n\
         filter = { type = \"process\" }\nkey = [\"user\"]\nvalue_field = \"bytes_out\"\n\
         step = \"1d\"\nmethod = \"mad\"\nwindow = 7\nthreshold = 0.99\n\
         [pipelines.logins]\ndetector = \"series\"\nsources = [\"auth\"]\n\
         filter = { type = \"auth\" }\nstep = \"1h\"\nmethod = \"ensemble\"\n\
         [sources.sandbox]\ntype = \"file\"\npath = \"sandbox.json\"\nfollow = true\n\
         [pipelines.waves]\ndetector = \"peaks\"\nsources = [\"sandbox\"]\n",
    )
    .unwrap();
    let mut child = Running(
        Command::new(env!("CARGO_BIN_EXE_crest"))
            .args(["run", "-c"])
            .arg(dir.join("dash.toml"))
            .arg("--data-dir")
            .arg(dir.join("state"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(child.0.stderr.take().unwrap()).lines();
    let addr = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|l| l.find("http://").map(|i| l[i..].trim().to_string()))
        .expect("the service names its address");
    std::thread::spawn(move || for _ in lines {});
    // Wait until the run has read everything.
    let start = Instant::now();
    let agent: ureq::Agent =
        ureq::Agent::config_builder().http_status_as_error(false).build().into();
    loop {
        let body = agent
            .get(format!("{addr}/metrics"))
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap();
        if body.contains("crest_events_total 33844") {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "the service did not read the example");
        std::thread::sleep(Duration::from_millis(50));
    }

    let dom = browse(&browser, &["--dump-dom"], &format!("{addr}/"));
    let dom = String::from_utf8_lossy(&dom.stdout);
    for seen in [
        "user=u019",
        "2026-10-21T00:00:00Z",
        "exfil · user=u019",
        "class=\"anomaly\"",
        "26044",
        // The wave of 2020-11-04 against its baseline: 824 submissions, mean 19, threshold 90.
        "<td class=\"high\">ZipArchiveFile · malicious</td><td class=\"num\">824</td>\
         <td class=\"num\">19</td><td class=\"num\">90</td><td class=\"num\">43.4</td>",
        "class=\"meter\"",
        "waves: window from 2020-11-07T00:00:00Z",
    ] {
        assert!(dom.contains(seen), "the page does not show '{seen}':\n{dom}");
    }
    let shot = workspace_root().join("target/crest-run/dashboard.png");
    std::fs::create_dir_all(shot.parent().unwrap()).unwrap();
    let _ = std::fs::remove_file(&shot);
    let out = browse(&browser, &[&format!("--screenshot={}", shot.display())], &format!("{addr}/"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let png = std::fs::read(&shot).expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG") && png.len() > 20_000, "{} bytes", png.len());
    eprintln!("dashboard screenshot: {}", shot.display());
}
