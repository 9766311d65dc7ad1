//! Labelled synthetic authentication and process telemetry of a few hundred actors over
//! several weeks, with planted account takeovers and insiders, for behavioural-profile
//! detectors (per-actor histograms of categorical values, hour-of-day habits, robust numeric
//! ranges, population rarity).
//!
//! Every actor has a role (engineer, sales, finance, hr, it, support) that decides their usual
//! apps, processes and maybe a shared server; a home country with its UTC offset; one or two
//! addresses in their own /24; one or two user agents; a working-hours habit (about one in ten
//! works nights); an activity level of 15–60 events per working day (30 % auth, 70 % process)
//! and a log-normal `bytes_out` around a median of their own.
//!
//! Benign novelty, which a naive "never seen before" model flags and a good one should not:
//! business trips (another country and a hotel address for 2–4 days, same agent and hours),
//! DHCP churn (a new last octet in the same /24), a company-wide `zoom.exe` rollout on the
//! Wednesday of week 3 (day 16), new apps adopted now and then, a weekly Friday-evening
//! `backup.exe`, one-off late evenings, a few weekend events, and IT staff using `7z.exe` and
//! `robocopy.exe` for their work (so those are not rare in the population).
//!
//! Incidents (from `attack_from_day` on, 3–40 events each, ids 1.. for the account takeovers
//! then the insiders) are planted over the benign activity without replacing it: a victim's
//! normal events during an incident stay benign. Account takeovers come from a foreign
//! address (usually in a country nobody else uses) with a scripted or unusual agent, mostly at
//! the victim's odd hours, often with failed logins first and apps the victim never used, and
//! may go on to hands-on-keyboard processes (`powershell.exe` under `winword.exe`,
//! `mimikatz.exe`, `rclone.exe` with gigabytes out). Insiders are subtler: the real user's
//! country, address, agent and workstation, mostly after hours, apps they never used, archive
//! and copy tools, and bytes out 10–100 times their median — or only a usual process sending
//! 3–30 times more than usual.
//!
//! Benign activity, profiles and incidents draw from separate random streams, so changing the
//! number of incidents leaves the benign events as they were.

use crate::Rng;

const DAY: i64 = 86_400;
const HOUR: i64 = 3_600;
const MINUTE: i64 = 60;

/// What to generate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActorLogSpec {
    /// Number of actors, named `u000`, `u001`, ….
    pub actors: usize,
    /// Number of days covered, from `start_epoch_s`.
    pub days: u32,
    /// Seed of every random choice.
    pub seed: u64,
    /// Start of day 0 in seconds since the epoch (UTC midnight; a Monday keeps weeks aligned).
    pub start_epoch_s: i64,
    /// First day (0-based) an incident may happen on; the days before are clean history.
    pub attack_from_day: u32,
    /// Number of planted account takeovers.
    pub ato_incidents: usize,
    /// Number of planted insider incidents.
    pub insider_incidents: usize,
}

impl Default for ActorLogSpec {
    fn default() -> Self {
        ActorLogSpec {
            actors: 300,
            days: 28,
            seed: 7,
            // 2026-10-05T00:00:00Z, a Monday.
            start_epoch_s: 1_791_158_400,
            attack_from_day: 14,
            ato_incidents: 12,
            insider_incidents: 8,
        }
    }
}

/// The ground truth of an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Label {
    /// Normal activity of the actor, benign novelty included.
    Benign,
    /// An outsider using the actor's account.
    AccountTakeover,
    /// The actor misusing their own access.
    Insider,
}

impl Label {
    /// The name used in the `label` field: `benign`, `ato` or `insider`.
    pub fn name(self) -> &'static str {
        match self {
            Label::Benign => "benign",
            Label::AccountTakeover => "ato",
            Label::Insider => "insider",
        }
    }
}

/// One event: its time, its line of JSON and its ground truth.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabeledEvent {
    /// Seconds since the epoch (the `time` field).
    pub time_s: i64,
    /// One line of compact JSON, without a newline.
    pub json: String,
    /// What generated the event (also the `label` field).
    pub label: Label,
    /// The incident the event belongs to (also the `incident` field).
    pub incident: Option<u32>,
}

/// The events of `spec`, sorted by time (ties in generation order); the same spec always
/// gives the same events.
pub fn actor_logs(spec: &ActorLogSpec) -> Vec<LabeledEvent> {
    let profiles: Vec<Profile> = (0..spec.actors).map(|i| Profile::new(spec, i)).collect();
    let mut out = Out {
        events: Vec::with_capacity(spec.actors * spec.days as usize * 40),
        lo: spec.start_epoch_s,
        hi: spec.start_epoch_s + spec.days as i64 * DAY,
    };
    for (i, p) in profiles.iter().enumerate() {
        benign(spec, p, &mut stream(spec.seed, 2, i), &mut out);
    }
    plant_incidents(spec, &profiles, &mut out);
    out.events.sort_by_key(|e| e.time_s); // stable: ties keep generation order
    out.events
}

// ---------------------------------------------------------------------------------------
// Vocabulary.

/// A country actors live in: code, share of actors, UTC offsets to choose from, second
/// octet of its office network.
struct Home {
    code: &'static str,
    weight: f64,
    offsets: &'static [i64],
    net: u8,
}

// Whole-hour offsets and no daylight saving: simpler, and detectors cannot tell.
const HOMES: [Home; 5] = [
    Home { code: "US", weight: 70.0, offsets: &[-5, -5, -5, -6, -8], net: 20 },
    Home { code: "DE", weight: 10.0, offsets: &[1], net: 30 },
    Home { code: "IN", weight: 8.0, offsets: &[5], net: 40 },
    Home { code: "BR", weight: 6.0, offsets: &[-3], net: 50 },
    Home { code: "GB", weight: 6.0, offsets: &[0], net: 60 },
];

/// Where business trips go.
const TRIPS: [&str; 9] = ["US", "DE", "GB", "FR", "JP", "SG", "CA", "NL", "IN"];
/// Countries no actor lives in or travels to: most takeovers come from one of these.
const RARE: [&str; 6] = ["RU", "NG", "VN", "KP", "CN", "RO"];

/// Leading octets of public addresses per country (hotels, attackers).
const PUBLIC_NETS: [(&str, &str); 16] = [
    ("US", "73"),
    ("DE", "85"),
    ("IN", "117"),
    ("BR", "177"),
    ("GB", "86"),
    ("FR", "90"),
    ("JP", "126"),
    ("SG", "118"),
    ("CA", "99"),
    ("NL", "145"),
    ("RU", "95"),
    ("NG", "102"),
    ("VN", "113"),
    ("KP", "175.45"),
    ("CN", "36"),
    ("RO", "89"),
];

/// The user agents of the workforce, with their popularity.
const AGENTS: [(&str, f64); 9] = [
    ("chrome-win", 30.0),
    ("edge-win", 20.0),
    ("chrome-mac", 12.0),
    ("outlook-win", 10.0),
    ("firefox-win", 8.0),
    ("safari-mac", 8.0),
    ("teams-win", 6.0),
    ("ios-mail", 4.0),
    ("android-mail", 2.0),
];
/// Scripted clients: no employee uses them.
const TOOL_AGENTS: [&str; 4] = ["python-requests", "curl", "go-http-client", "powershell"];
/// Browsers nobody in the workforce uses, for subtler takeovers.
const ODD_AGENTS: [&str; 3] = ["firefox-linux", "chrome-linux", "opera-win"];

/// Every app, with its popularity when someone adopts a new one.
const APPS: [(&str, f64); 12] = [
    ("vpn", 30.0),
    ("mail", 30.0),
    ("wiki", 12.0),
    ("jira", 10.0),
    ("sharepoint", 10.0),
    ("crm", 6.0),
    ("git", 6.0),
    ("ssh-bastion", 3.0),
    ("hr", 2.0),
    ("payroll", 1.0),
    ("finance-db", 1.0),
    ("admin-console", 1.0),
];
/// What account takeovers go for, most wanted first.
const ATO_TARGETS: [&str; 6] =
    ["admin-console", "finance-db", "payroll", "hr", "sharepoint", "ssh-bastion"];
/// What insiders go for.
const INSIDER_TARGETS: [&str; 4] = ["finance-db", "hr", "payroll", "sharepoint"];

/// A job: its share of actors, its apps and processes (most used first) and its server.
struct Role {
    weight: f64,
    apps: &'static [&'static str],
    procs: &'static [&'static str],
    server: Option<usize>,
}

const ROLES: [Role; 6] = [
    // engineer
    Role {
        weight: 30.0,
        apps: &["vpn", "git", "mail", "jira", "wiki", "ssh-bastion"],
        procs: &[
            "chrome.exe",
            "code.exe",
            "teams.exe",
            "outlook.exe",
            "git.exe",
            "python.exe",
            "cmd.exe",
            "powershell.exe",
            "ssh.exe",
            "docker.exe",
            "slack.exe",
            "notepad.exe",
        ],
        server: Some(0),
    },
    // sales
    Role {
        weight: 25.0,
        apps: &["mail", "crm", "sharepoint", "vpn", "wiki"],
        procs: &[
            "outlook.exe",
            "chrome.exe",
            "teams.exe",
            "excel.exe",
            "winword.exe",
            "powerpnt.exe",
            "msedge.exe",
            "acrobat.exe",
            "slack.exe",
            "notepad.exe",
        ],
        server: None,
    },
    // finance
    Role {
        weight: 12.0,
        apps: &["mail", "finance-db", "sharepoint", "payroll", "vpn"],
        procs: &[
            "excel.exe",
            "outlook.exe",
            "chrome.exe",
            "teams.exe",
            "sapgui.exe",
            "acrobat.exe",
            "winword.exe",
            "msedge.exe",
            "notepad.exe",
        ],
        server: Some(2),
    },
    // hr
    Role {
        weight: 8.0,
        apps: &["mail", "hr", "sharepoint", "payroll", "wiki"],
        procs: &[
            "outlook.exe",
            "winword.exe",
            "chrome.exe",
            "teams.exe",
            "acrobat.exe",
            "excel.exe",
            "msedge.exe",
            "notepad.exe",
        ],
        server: None,
    },
    // it: the benign users of archive and copy tools
    Role {
        weight: 10.0,
        apps: &["vpn", "admin-console", "ssh-bastion", "mail", "wiki", "jira"],
        procs: &[
            "powershell.exe",
            "chrome.exe",
            "outlook.exe",
            "teams.exe",
            "cmd.exe",
            "mmc.exe",
            "mstsc.exe",
            "ssh.exe",
            "putty.exe",
            "7z.exe",
            "robocopy.exe",
            "wireshark.exe",
            "notepad.exe",
        ],
        server: Some(1),
    },
    // support
    Role {
        weight: 15.0,
        apps: &["mail", "jira", "crm", "wiki", "vpn"],
        procs: &[
            "chrome.exe",
            "outlook.exe",
            "teams.exe",
            "excel.exe",
            "msedge.exe",
            "notepad.exe",
            "slack.exe",
            "winword.exe",
        ],
        server: None,
    },
];

/// Shared servers and what runs on them (process, parent).
const SERVERS: [(&str, &[(&str, &str)]); 3] = [
    (
        "srv-build-01",
        &[("git.exe", "cmd.exe"), ("msbuild.exe", "cmd.exe"), ("python.exe", "cmd.exe")],
    ),
    (
        "jump-01",
        &[
            ("mstsc.exe", "explorer.exe"),
            ("ssh.exe", "powershell.exe"),
            ("powershell.exe", "explorer.exe"),
        ],
    ),
    ("srv-db-01", &[("sqlcmd.exe", "powershell.exe"), ("powershell.exe", "explorer.exe")]),
];

/// Benign processes: their usual parents (most common first) and bytes out relative to the
/// actor's median.
const PROCS: [(&str, &[&str], f64); 28] = [
    ("chrome.exe", &["explorer.exe", "outlook.exe"], 3.0),
    ("msedge.exe", &["explorer.exe", "outlook.exe"], 3.0),
    ("outlook.exe", &["explorer.exe"], 2.0),
    ("teams.exe", &["explorer.exe"], 5.0),
    ("slack.exe", &["explorer.exe"], 1.5),
    ("zoom.exe", &["explorer.exe"], 8.0),
    ("excel.exe", &["explorer.exe", "outlook.exe"], 0.4),
    ("winword.exe", &["explorer.exe", "outlook.exe"], 0.3),
    ("powerpnt.exe", &["explorer.exe", "outlook.exe"], 0.6),
    ("acrobat.exe", &["explorer.exe", "chrome.exe"], 0.2),
    ("notepad.exe", &["explorer.exe"], 0.02),
    ("code.exe", &["explorer.exe"], 0.6),
    ("git.exe", &["code.exe", "cmd.exe"], 3.0),
    ("python.exe", &["code.exe", "cmd.exe", "powershell.exe"], 1.0),
    ("cmd.exe", &["explorer.exe"], 0.05),
    ("powershell.exe", &["explorer.exe", "code.exe"], 0.3),
    ("ssh.exe", &["cmd.exe", "powershell.exe", "code.exe"], 2.0),
    ("docker.exe", &["powershell.exe", "cmd.exe"], 4.0),
    ("mmc.exe", &["explorer.exe"], 0.1),
    ("mstsc.exe", &["explorer.exe"], 2.0),
    ("putty.exe", &["explorer.exe"], 1.0),
    ("wireshark.exe", &["explorer.exe"], 0.1),
    ("sapgui.exe", &["explorer.exe"], 1.0),
    ("7z.exe", &["explorer.exe", "cmd.exe"], 0.2),
    ("robocopy.exe", &["cmd.exe", "powershell.exe"], 6.0),
    ("msbuild.exe", &["cmd.exe"], 0.5),
    ("sqlcmd.exe", &["powershell.exe"], 1.5),
    ("backup.exe", &["svchost.exe"], 40.0),
];

/// The parents and bytes factor of a benign process.
fn proc_info(name: &str) -> (&'static [&'static str], f64) {
    PROCS.iter().find(|p| p.0 == name).map(|p| (p.1, p.2)).unwrap_or((&["explorer.exe"], 1.0))
}

/// The stages of a hands-on-keyboard takeover, in order: (process, parent, bytes out range).
const ATO_STAGES: [&[(&str, &str, f64, f64)]; 5] = [
    // initial access: a macro or a DLL launched from an office document
    &[("powershell.exe", "winword.exe", 2e3, 2e5), ("rundll32.exe", "excel.exe", 1e3, 1e5)],
    // reconnaissance
    &[
        ("whoami.exe", "cmd.exe", 2e2, 5e3),
        ("net.exe", "cmd.exe", 2e2, 5e3),
        ("nltest.exe", "cmd.exe", 2e2, 5e3),
    ],
    // credentials
    &[("mimikatz.exe", "powershell.exe", 1e3, 5e4), ("procdump64.exe", "cmd.exe", 1e3, 5e4)],
    // staging
    &[("7z.exe", "cmd.exe", 1e3, 1e5), ("certutil.exe", "cmd.exe", 1e3, 1e5)],
    // exfiltration
    &[("rclone.exe", "powershell.exe", 5e7, 3e9), ("curl.exe", "powershell.exe", 1e7, 5e8)],
];

/// Archive and copy tools an insider uses (process, parent).
const INSIDER_TOOLS: [(&str, &str); 4] = [
    ("7z.exe", "explorer.exe"),
    ("7z.exe", "cmd.exe"),
    ("rclone.exe", "cmd.exe"),
    ("robocopy.exe", "cmd.exe"),
];

// ---------------------------------------------------------------------------------------
// Random helpers.

/// An independent stream for (`seed`, `kind`, `index`).
fn stream(seed: u64, kind: u64, index: usize) -> Rng {
    let mut r = Rng::new(
        seed ^ kind.wrapping_mul(0xA076_1D64_78BD_642F)
            ^ (index as u64 + 1).wrapping_mul(0xE703_7ED1_A0B4_28DB),
    );
    Rng::new(r.next_u64())
}

fn chance(rng: &mut Rng, p: f64) -> bool {
    rng.unit() < p
}

fn uniform(rng: &mut Rng, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * rng.unit()
}

/// An integer in `lo..=hi`.
fn between(rng: &mut Rng, lo: u64, hi: u64) -> u64 {
    lo + rng.below(hi - lo + 1)
}

/// A draw spread evenly over orders of magnitude between `lo` and `hi`.
fn log_uniform(rng: &mut Rng, lo: f64, hi: f64) -> f64 {
    (lo.ln() + (hi.ln() - lo.ln()) * rng.unit()).exp()
}

/// A standard normal draw (Box-Muller).
fn normal(rng: &mut Rng) -> f64 {
    let u1 = 1.0 - rng.unit();
    let u2 = rng.unit();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

fn pick<'a, T>(rng: &mut Rng, items: &'a [T]) -> &'a T {
    &items[rng.below(items.len() as u64) as usize]
}

/// An item drawn with probability proportional to `weight(item)`.
fn pick_by<'a, T>(rng: &mut Rng, items: &'a [T], weight: impl Fn(&T) -> f64) -> &'a T {
    let total: f64 = items.iter().map(&weight).sum();
    let mut r = rng.unit() * total;
    for item in items {
        r -= weight(item);
        if r < 0.0 {
            return item;
        }
    }
    &items[items.len() - 1]
}

/// `n` distinct items of `items`, drawn with probability proportional to `weight`.
fn sample_by<T: Copy>(
    rng: &mut Rng,
    items: &[T],
    n: usize,
    weight: impl Fn(usize) -> f64,
) -> Vec<T> {
    let mut left: Vec<usize> = (0..items.len()).collect();
    let mut chosen = Vec::with_capacity(n);
    while chosen.len() < n && !left.is_empty() {
        let k = *pick_by(rng, &left, |&i| weight(i));
        left.retain(|&i| i != k);
        chosen.push(items[k]);
    }
    chosen
}

/// A public address in `country`.
fn public_ip(rng: &mut Rng, country: &str) -> String {
    let prefix = PUBLIC_NETS.iter().find(|n| n.0 == country).map_or("203", |n| n.1);
    let mut ip = prefix.to_string();
    for _ in prefix.split('.').count()..4 {
        ip.push_str(&format!(".{}", between(rng, 1, 254)));
    }
    ip
}

// ---------------------------------------------------------------------------------------
// Profiles.

/// A process an actor runs, with the parent they run it from.
#[derive(Clone, Debug)]
struct UsualProc {
    name: &'static str,
    parent: &'static str,
    weight: f64,
    median: f64,
}

/// A business trip: days `from..to` in `country`, from a hotel address.
struct Trip {
    from: u32,
    to: u32,
    country: &'static str,
    ip: String,
}

/// Everything that makes an actor's habits.
struct Profile {
    user: String,
    ws: String,
    home: &'static str,
    offset_h: i64,
    /// Local time the working day starts, in seconds after midnight (may pass midnight).
    shift_start_s: i64,
    shift_len_s: i64,
    rate: f64,
    fail_rate: f64,
    weekend_p: f64,
    /// The usual addresses, primary first.
    ips: Vec<String>,
    /// DHCP churn: from this day on, the primary address is this one.
    churn: Option<(u32, String)>,
    agents: Vec<&'static str>,
    apps: Vec<(&'static str, f64)>,
    /// An app adopted on a day, used from then on.
    adopted: Option<(u32, &'static str)>,
    procs: Vec<UsualProc>,
    server: Option<(&'static str, Vec<UsualProc>)>,
    /// The day `zoom.exe` reaches this actor in the rollout.
    zoom_from: Option<u32>,
    /// Local time of the weekly Friday backup, in seconds after midnight.
    backup_at_s: Option<i64>,
    trip: Option<Trip>,
    base_bytes: f64,
}

/// The rollout day of `zoom.exe`: the Wednesday of week 3, or two thirds in for short specs.
fn rollout_day(days: u32) -> u32 {
    if days > 16 { 16 } else { days * 2 / 3 }
}

impl Profile {
    fn new(spec: &ActorLogSpec, idx: usize) -> Profile {
        let rng = &mut stream(spec.seed, 1, idx);
        let days = spec.days.max(1);
        let role = pick_by(rng, &ROLES, |r| r.weight);
        let home = pick_by(rng, &HOMES, |h| h.weight);
        let offset_h = *pick(rng, home.offsets);

        // About one in ten works nights or is on call in the evening.
        let night = chance(rng, 0.1);
        let start_h = if night { uniform(rng, 18.0, 23.0) } else { uniform(rng, 6.0, 10.0) };
        let shift_start_s = (start_h * HOUR as f64) as i64;
        let shift_len_s = (uniform(rng, 8.0, 10.0) * HOUR as f64) as i64;

        // A /24 of one's own, in the home country's office network.
        let subnet = format!("10.{}.{}", home.net as usize + (idx / 250) % 10, idx % 250);
        let mut octets = vec![between(rng, 10, 250)];
        if chance(rng, 0.5) {
            octets.push(between(rng, 10, 250));
        }
        let ips: Vec<String> = octets.iter().map(|o| format!("{subnet}.{o}")).collect();
        let churn = chance(rng, 0.3).then(|| {
            // A new lease in the same /24; early enough to be seen again before the end.
            let day = between(rng, 1, (days as u64 * 3 / 4).max(1)) as u32;
            let octet = loop {
                let o = between(rng, 10, 250);
                if !octets.contains(&o) {
                    break o;
                }
            };
            (day, format!("{subnet}.{octet}"))
        });

        let n_agents = if chance(rng, 0.4) { 2 } else { 1 };
        let agents =
            sample_by(rng, &AGENTS, n_agents, |i| AGENTS[i].1).into_iter().map(|a| a.0).collect();

        // 2–5 apps of the role, the first ones of its list likelier, used Zipf-like.
        let n_apps = between(rng, 2, 5) as usize;
        let apps: Vec<(&'static str, f64)> =
            sample_by(rng, role.apps, n_apps, |i| 1.0 / (i as f64 + 1.0))
                .into_iter()
                .enumerate()
                .map(|(k, a)| (a, uniform(rng, 0.6, 1.4) / (k as f64 + 1.0)))
                .collect();
        let adopted = chance(rng, 0.1).then(|| {
            let day = between(rng, 3, days.max(4) as u64 - 1) as u32;
            let new: Vec<(&str, f64)> =
                APPS.iter().copied().filter(|a| !apps.iter().any(|u| u.0 == a.0)).collect();
            (day, pick_by(rng, &new, |a| a.1).0)
        });

        // Bytes out: a log-normal median of one's own, scaled per process.
        let base_bytes = (20_000f64.ln() + 0.8 * normal(rng)).exp();
        let n_procs = between(rng, 5, 10) as usize;
        let mut procs = Vec::new();
        for (k, name) in
            sample_by(rng, role.procs, n_procs, |i| 1.0 / (i as f64 + 2.0)).into_iter().enumerate()
        {
            let (parents, factor) = proc_info(name);
            let weight = uniform(rng, 0.5, 1.5) / (k as f64 + 2.0);
            let median = base_bytes * factor * (0.3 * normal(rng)).exp();
            procs.push(UsualProc { name, parent: parents[0], weight, median });
            // Some start the same program in a second way (from a mail, from a shell).
            if parents.len() > 1 && chance(rng, 0.25) {
                let parent = parents[1 + rng.below(parents.len() as u64 - 1) as usize];
                procs.push(UsualProc { name, parent, weight: weight * 0.25, median });
            }
        }
        let server = role.server.filter(|_| chance(rng, 0.5)).map(|s| {
            let (host, list) = SERVERS[s];
            let procs = list
                .iter()
                .map(|&(name, parent)| UsualProc {
                    name,
                    parent,
                    weight: uniform(rng, 0.5, 1.5),
                    median: base_bytes * proc_info(name).1 * (0.3 * normal(rng)).exp(),
                })
                .collect();
            (host, procs)
        });

        let rollout = rollout_day(days);
        let zoom_from = (rollout < days && chance(rng, 0.85))
            .then(|| rollout + if chance(rng, 0.7) { 0 } else { between(rng, 1, 4) as u32 });
        // Weekly backups belong to the technical roles (engineers and IT).
        let backup_at_s = (role.apps.contains(&"ssh-bastion") && chance(rng, 0.25))
            .then(|| (uniform(rng, 17.0, 21.0) * HOUR as f64) as i64);

        let trip = (days >= 7 && chance(rng, 0.05)).then(|| {
            let from = between(rng, 1, days as u64 - 5) as u32;
            let country = loop {
                let c = *pick(rng, &TRIPS);
                if c != home.code {
                    break c;
                }
            };
            let ip = public_ip(rng, country);
            Trip { from, to: from + between(rng, 2, 4) as u32, country, ip }
        });

        Profile {
            user: format!("u{idx:03}"),
            ws: format!("ws-{idx:03}"),
            home: home.code,
            offset_h,
            shift_start_s,
            shift_len_s,
            // 15–60 events per working day, the busy ones more common.
            rate: 15.0 + 45.0 * rng.unit().sqrt(),
            fail_rate: 0.005 + 0.04 * rng.unit().powi(2),
            weekend_p: if night { 0.3 } else { 0.15 },
            ips,
            churn,
            agents,
            apps,
            adopted,
            procs,
            server,
            zoom_from,
            backup_at_s,
            trip,
            base_bytes,
        }
    }

    /// Local midnight of day `d`, in UTC seconds.
    fn midnight(&self, spec: &ActorLogSpec, d: u32) -> i64 {
        spec.start_epoch_s + d as i64 * DAY - self.offset_h * HOUR
    }

    fn trip_on(&self, d: u32) -> Option<&Trip> {
        self.trip.as_ref().filter(|t| (t.from..t.to).contains(&d))
    }

    /// An address of the actor at home (or in the office) on day `d`, and its country.
    fn home_ip(&self, d: u32, rng: &mut Rng) -> (&str, &'static str) {
        let k = if self.ips.len() > 1 && chance(rng, 0.2) { 1 } else { 0 };
        let ip = match &self.churn {
            Some((day, ip)) if k == 0 && d >= *day => ip,
            _ => &self.ips[k],
        };
        (ip, self.home)
    }

    /// Where the actor logs in from on day `d`.
    fn ip_on(&self, d: u32, rng: &mut Rng) -> (&str, &'static str) {
        match self.trip_on(d) {
            Some(t) => (&t.ip, t.country),
            None => self.home_ip(d, rng),
        }
    }

    fn agent(&self, rng: &mut Rng) -> &'static str {
        if self.agents.len() > 1 && chance(rng, 0.15) { self.agents[1] } else { self.agents[0] }
    }

    fn app_on(&self, d: u32, rng: &mut Rng) -> &'static str {
        match self.adopted {
            Some((day, app)) if d >= day && chance(rng, 0.15) => app,
            _ => pick_by(rng, &self.apps, |a| a.1).0,
        }
    }

    /// A usual process run on day `d`: host, process, parent, bytes out.
    fn proc_on(&self, d: u32, rng: &mut Rng) -> (&str, &'static str, &'static str, u64) {
        let (host, p) = match &self.server {
            Some((host, procs)) if chance(rng, 0.15) => (*host, pick_by(rng, procs, |p| p.weight)),
            _ => (self.ws.as_str(), pick_by(rng, &self.procs, |p| p.weight)),
        };
        if self.zoom_from.is_some_and(|z| d >= z) && host == self.ws && chance(rng, 0.12) {
            let median = self.base_bytes * proc_info("zoom.exe").1;
            return (host, "zoom.exe", "explorer.exe", bytes(rng, median));
        }
        (host, p.name, p.parent, bytes(rng, p.median))
    }

    /// The time `x` seconds after the shift of local day `d` starts (negative: before it).
    fn at(&self, spec: &ActorLogSpec, d: u32, x: f64) -> i64 {
        self.midnight(spec, d) + self.shift_start_s + x as i64
    }
}

/// Bytes out of one event around `median`.
fn bytes(rng: &mut Rng, median: f64) -> u64 {
    (median * (0.7 * normal(rng)).exp()).round() as u64
}

/// Day of the week of day `d` of `spec`, Monday = 0.
fn weekday(spec: &ActorLogSpec, d: u32) -> i64 {
    // 1970-01-01 was a Thursday.
    (spec.start_epoch_s.div_euclid(DAY) + 3 + d as i64).rem_euclid(7)
}

// ---------------------------------------------------------------------------------------
// Output.

struct Out {
    events: Vec<LabeledEvent>,
    /// Benign events outside `lo..hi` are dropped (shifts that spill over the ends).
    lo: i64,
    hi: i64,
}

/// The fields of an auth event after its header.
struct Auth<'a> {
    ip: &'a str,
    country: &'a str,
    agent: &'a str,
    app: &'a str,
    ok: bool,
}

/// The fields of a process event after its header.
struct Process<'a> {
    host: &'a str,
    process: &'a str,
    parent: &'a str,
    bytes: u64,
}

impl Out {
    fn auth(&mut self, t: i64, user: &str, a: &Auth, label: Label, incident: Option<u32>) {
        let result = if a.ok { "success" } else { "failure" };
        let body = format!(
            r#""src_ip":"{}","country":"{}","user_agent":"{}","app":"{}","result":"{result}""#,
            a.ip, a.country, a.agent, a.app
        );
        self.push(t, "auth", user, &body, label, incident);
    }

    fn process(&mut self, t: i64, user: &str, p: &Process, label: Label, incident: Option<u32>) {
        let body = format!(
            r#""host":"{}","process":"{}","parent":"{}","bytes_out":{}"#,
            p.host, p.process, p.parent, p.bytes
        );
        self.push(t, "process", user, &body, label, incident);
    }

    fn push(
        &mut self,
        t: i64,
        kind: &str,
        user: &str,
        body: &str,
        label: Label,
        incident: Option<u32>,
    ) {
        let t = if label == Label::Benign {
            if !(self.lo..self.hi).contains(&t) {
                return;
            }
            t
        } else {
            // Incident sessions are placed to fit; this only guards the last minutes.
            t.min(self.hi - 1)
        };
        let incident_json = incident.map_or("null".to_string(), |i| i.to_string());
        let json = format!(
            r#"{{"time":"{}","type":"{kind}","user":"{user}",{body},"label":"{}","incident":{incident_json}}}"#,
            rfc3339(t),
            label.name()
        );
        self.events.push(LabeledEvent { time_s: t, json, label, incident });
    }
}

/// `t` (seconds since the epoch) as `YYYY-MM-DDThh:mm:ssZ`.
fn rfc3339(t: i64) -> String {
    let (days, secs) = (t.div_euclid(DAY), t.rem_euclid(DAY));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / HOUR,
        secs % HOUR / MINUTE,
        secs % MINUTE
    )
}

// ---------------------------------------------------------------------------------------
// Benign activity.

/// One ordinary event of `p` at `t` on day `d`: 30 % auth, 70 % process.
fn ordinary(p: &Profile, d: u32, t: i64, rng: &mut Rng, out: &mut Out) {
    if chance(rng, 0.3) {
        let (ip, country) = p.ip_on(d, rng);
        let a = Auth { ip, country, agent: p.agent(rng), app: p.app_on(d, rng), ok: true };
        if chance(rng, p.fail_rate) {
            // A mistyped password, then the right one a little later.
            out.auth(t, &p.user, &Auth { ok: false, ..a }, Label::Benign, None);
            out.auth(t + between(rng, 5, 90) as i64, &p.user, &a, Label::Benign, None);
        } else {
            out.auth(t, &p.user, &a, Label::Benign, None);
        }
    } else {
        let (host, process, parent, bytes) = p.proc_on(d, rng);
        out.process(t, &p.user, &Process { host, process, parent, bytes }, Label::Benign, None);
    }
}

/// All benign events of one actor.
fn benign(spec: &ActorLogSpec, p: &Profile, rng: &mut Rng, out: &mut Out) {
    let len = p.shift_len_s as f64;
    for d in 0..spec.days {
        let wd = weekday(spec, d);
        if wd >= 5 {
            // A few weekend events: a look at the mail, a quick fix.
            if chance(rng, p.weekend_p) {
                for _ in 0..between(rng, 1, 6) {
                    let t = p.midnight(spec, d) + (uniform(rng, 9.0, 22.0) * HOUR as f64) as i64;
                    ordinary(p, d, t, rng, out);
                }
            }
            continue;
        }
        // The day starts a little earlier or later each day.
        let jitter = 1_200.0 * normal(rng);
        let travel = if p.trip_on(d).is_some() { 0.6 } else { 1.0 };
        let n = (p.rate * uniform(rng, 0.75, 1.25) * travel).round() as u64;
        for _ in 0..n {
            // Mostly inside the shift, some spill over its edges.
            let u = if chance(rng, 0.05) { uniform(rng, -0.12, 1.15) } else { rng.unit() };
            ordinary(p, d, p.at(spec, d, jitter + u * len), rng, out);
        }
        // A one-off late evening (or, for night shifts, a late morning).
        if chance(rng, 0.02) {
            let start = len + uniform(rng, 1.5, 4.5) * HOUR as f64;
            for _ in 0..between(rng, 2, 8) {
                let x = start + uniform(rng, 0.0, 1.5) * HOUR as f64;
                ordinary(p, d, p.at(spec, d, x), rng, out);
            }
        }
        // The weekly backup, Friday evening at about the same time.
        if let (Some(at), 4) = (p.backup_at_s, wd) {
            let t = p.midnight(spec, d) + at + (300.0 * normal(rng)) as i64;
            let host = p.server.as_ref().map_or(p.ws.as_str(), |s| s.0);
            let median = p.base_bytes * proc_info("backup.exe").1;
            let b = Process {
                host,
                process: "backup.exe",
                parent: "svchost.exe",
                bytes: bytes(rng, median),
            };
            out.process(t, &p.user, &b, Label::Benign, None);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Incidents.

/// Moves a session of `span` seconds starting at `t` by whole days into `lo..hi`, keeping
/// its time of day when it can.
fn fit(t: i64, lo: i64, hi: i64, span: i64) -> i64 {
    let mut t = t;
    while t < lo {
        t += DAY;
    }
    while t + span > hi && t - DAY >= lo {
        t -= DAY;
    }
    t.clamp(lo, (hi - span).max(lo))
}

fn plant_incidents(spec: &ActorLogSpec, profiles: &[Profile], out: &mut Out) {
    if spec.attack_from_day >= spec.days || profiles.is_empty() {
        return;
    }
    let rng = &mut stream(spec.seed, 3, 0);
    // Distinct victims while there are enough actors (Fisher-Yates).
    let mut victims: Vec<usize> = (0..profiles.len()).collect();
    for i in (1..victims.len()).rev() {
        victims.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let window = (
        spec.start_epoch_s + spec.attack_from_day as i64 * DAY,
        spec.start_epoch_s + spec.days as i64 * DAY,
    );
    let mut id = 0u32;
    for k in 0..spec.ato_incidents + spec.insider_incidents {
        id += 1;
        let p = &profiles[victims[k % victims.len()]];
        let day =
            spec.attack_from_day + rng.below((spec.days - spec.attack_from_day) as u64) as u32;
        if k < spec.ato_incidents {
            account_takeover(spec, p, id, day, window, rng, out);
        } else {
            insider(spec, p, id, day, window, rng, out);
        }
    }
}

/// The latest an event may come after its session starts: sessions fit in the window.
const SESSION_SPAN: i64 = 4 * HOUR;

fn account_takeover(
    spec: &ActorLogSpec,
    p: &Profile,
    id: u32,
    day: u32,
    (lo, hi): (i64, i64),
    rng: &mut Rng,
    out: &mut Out,
) {
    let (label, incident) = (Label::AccountTakeover, Some(id));
    // Mostly at the victim's odd hours (at least 2 h from their shift); a quarter blend in.
    let len = p.shift_len_s as f64;
    let x = if chance(rng, 0.75) {
        uniform(rng, len + 2.0 * HOUR as f64, (DAY - 2 * HOUR) as f64)
    } else {
        uniform(rng, 0.1 * len, 0.8 * len)
    };
    let mut t = fit(p.at(spec, day, x), lo, hi, SESSION_SPAN);

    // Usually from a country nobody works in; otherwise a common one the victim never used.
    let country = if chance(rng, 0.7) {
        *pick(rng, &RARE)
    } else {
        let travelled = p.trip.as_ref().map(|t| t.country);
        let others: Vec<&str> = HOMES
            .iter()
            .map(|h| h.code)
            .chain(TRIPS)
            .filter(|&c| c != p.home && Some(c) != travelled)
            .collect();
        *pick(rng, &others)
    };
    let ip = public_ip(rng, country);
    let agent = if chance(rng, 0.6) { *pick(rng, &TOOL_AGENTS) } else { *pick(rng, &ODD_AGENTS) };
    let first_app = if chance(rng, 0.5) { "vpn" } else { "mail" };
    let login = |app, ok| Auth { ip: &ip, country, agent, app, ok };

    // Password guessing first, sometimes.
    if chance(rng, 0.5) {
        for _ in 0..between(rng, 1, 8) {
            out.auth(t, &p.user, &login(first_app, false), label, incident);
            t += between(rng, 2, 30) as i64;
        }
    }
    out.auth(t, &p.user, &login(first_app, true), label, incident);

    // Then a look around, mostly in apps the victim never used.
    let hands_on = chance(rng, 0.7);
    let logins = between(rng, if hands_on { 1 } else { 2 }, 5);
    let unused: Vec<&str> =
        ATO_TARGETS.iter().copied().filter(|a| !p.apps.iter().any(|u| u.0 == *a)).collect();
    for _ in 0..logins {
        t += between(rng, MINUTE as u64, 10 * MINUTE as u64) as i64;
        let app = if !unused.is_empty() && chance(rng, 0.7) {
            *pick(rng, &unused)
        } else {
            pick_by(rng, &p.apps, |a| a.1).0
        };
        out.auth(t, &p.user, &login(app, true), label, incident);
    }

    // Hands on keyboard: on the victim's workstation or a machine of the attacker's own.
    if hands_on {
        let host = if chance(rng, 0.6) {
            p.ws.clone()
        } else {
            let name: String =
                (0..7).map(|_| *pick(rng, b"abcdefghjkmnpqrstuvwxyz0123456789") as char).collect();
            format!("desktop-{name}")
        };
        let steps = between(rng, 2, 20) as usize;
        for i in 0..steps {
            // Walk the stages in order, spreading the steps over them.
            let stage = ATO_STAGES[i * ATO_STAGES.len() / steps];
            let &(process, parent, lo_b, hi_b) = pick(rng, stage);
            t += between(rng, 10, 5 * MINUTE as u64) as i64;
            let b = log_uniform(rng, lo_b, hi_b).round() as u64;
            let e = Process { host: &host, process, parent, bytes: b };
            out.process(t, &p.user, &e, label, incident);
        }
    }
}

fn insider(
    spec: &ActorLogSpec,
    p: &Profile,
    id: u32,
    day: u32,
    (lo, hi): (i64, i64),
    rng: &mut Rng,
    out: &mut Out,
) {
    let (label, incident) = (Label::Insider, Some(id));
    let total = 3 + (37.0 * rng.unit().powf(1.5)).round() as u64;
    // One to three sessions on nearby days.
    let sessions = between(rng, 1, 3).min(total);
    let unused: Vec<&str> =
        INSIDER_TARGETS.iter().copied().filter(|a| !p.apps.iter().any(|u| u.0 == *a)).collect();
    let len = p.shift_len_s as f64;
    let mut d = day;
    for s in 0..sessions {
        let n = total / sessions + u64::from(s < total % sessions);
        // Mostly after the shift, sometimes before it, sometimes during it (subtle).
        let r = rng.unit();
        let x = if r < 0.7 {
            uniform(rng, len + 0.5 * HOUR as f64, len + 4.0 * HOUR as f64)
        } else if r < 0.85 {
            uniform(rng, -3.0 * HOUR as f64, -(HOUR as f64))
        } else {
            uniform(rng, 0.2 * len, 0.9 * len)
        };
        let mut t = fit(p.at(spec, d, x), lo, hi, SESSION_SPAN);
        for _ in 0..n {
            if chance(rng, 0.35) {
                // The user's own address, country and agent; new apps get refused at times.
                let (ip, country) = p.home_ip(d, rng);
                let (app, ok) = if !unused.is_empty() && chance(rng, 0.6) {
                    (*pick(rng, &unused), chance(rng, 0.8))
                } else {
                    (p.app_on(d, rng), true)
                };
                let a = Auth { ip, country, agent: p.agent(rng), app, ok };
                out.auth(t, &p.user, &a, label, incident);
            } else {
                let (process, parent, b) = if chance(rng, 0.5) {
                    let &(process, parent) = pick(rng, &INSIDER_TOOLS);
                    (process, parent, p.base_bytes * log_uniform(rng, 10.0, 100.0))
                } else {
                    // Only slightly off: a usual process sending more than usual.
                    let u = pick_by(rng, &p.procs, |u| u.weight);
                    (u.name, u.parent, u.median * log_uniform(rng, 3.0, 30.0))
                };
                let e = Process { host: &p.ws, process, parent, bytes: b.round() as u64 };
                out.process(t, &p.user, &e, label, incident);
            }
            t += between(rng, 30, 8 * MINUTE as u64) as i64;
        }
        d = (d + between(rng, 1, 2) as u32).min(spec.days - 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet, HashSet};
    use std::sync::OnceLock;

    /// The defaults, generated once for all tests.
    fn defaults() -> &'static [LabeledEvent] {
        static EVENTS: OnceLock<Vec<LabeledEvent>> = OnceLock::new();
        EVENTS.get_or_init(|| actor_logs(&ActorLogSpec::default()))
    }

    #[derive(Debug, PartialEq)]
    enum Value {
        Str(String),
        Int(i64),
        Null,
    }

    /// A flat JSON object of strings (without escapes), integers and nulls, keys in order.
    fn parse_flat(line: &str) -> Option<Vec<(String, Value)>> {
        let mut rest = line.strip_prefix('{')?;
        let mut fields = Vec::new();
        loop {
            rest = rest.strip_prefix('"')?;
            let end = rest.find('"')?;
            let key = rest[..end].to_string();
            rest = rest[end + 1..].strip_prefix(':')?;
            let value = if let Some(r) = rest.strip_prefix('"') {
                let end = r.find('"')?;
                if r[..end].contains('\\') {
                    return None;
                }
                rest = &r[end + 1..];
                Value::Str(r[..end].to_string())
            } else if let Some(r) = rest.strip_prefix("null") {
                rest = r;
                Value::Null
            } else {
                let end = rest.find([',', '}'])?;
                let v = rest[..end].parse().ok()?;
                rest = &rest[end..];
                Value::Int(v)
            };
            fields.push((key, value));
            if let Some(r) = rest.strip_prefix(',') {
                rest = r;
            } else {
                return (rest == "}").then_some(fields);
            }
        }
    }

    fn str_of<'a>(fields: &'a [(String, Value)], key: &str) -> &'a str {
        match fields.iter().find(|f| f.0 == key) {
            Some((_, Value::Str(s))) => s,
            other => panic!("{key}: {other:?}"),
        }
    }

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400 + 3_723), "2000-02-29T01:02:03Z");
        assert_eq!(rfc3339(1_791_158_400), "2026-10-05T00:00:00Z");
        assert_eq!(weekday(&ActorLogSpec::default(), 0), 0, "the default start is a Monday");
    }

    #[test]
    fn deterministic() {
        let spec = ActorLogSpec {
            actors: 40,
            days: 21,
            seed: 11,
            ato_incidents: 2,
            insider_incidents: 1,
            ..Default::default()
        };
        assert_eq!(actor_logs(&spec), actor_logs(&spec));
        assert_eq!(actor_logs(&ActorLogSpec::default()), defaults());
        let other = actor_logs(&ActorLogSpec { seed: 12, ..spec.clone() });
        assert_ne!(other, actor_logs(&spec));
    }

    #[test]
    fn incidents_leave_benign_events_alone() {
        let spec = ActorLogSpec { actors: 30, days: 21, ..Default::default() };
        let quiet = ActorLogSpec { ato_incidents: 0, insider_incidents: 0, ..spec.clone() };
        let benign: Vec<_> =
            actor_logs(&spec).into_iter().filter(|e| e.label == Label::Benign).collect();
        assert_eq!(benign, actor_logs(&quiet));
    }

    #[test]
    fn every_line_is_flat_json_with_the_fields_in_order() {
        const AUTH: [&str; 10] = [
            "time",
            "type",
            "user",
            "src_ip",
            "country",
            "user_agent",
            "app",
            "result",
            "label",
            "incident",
        ];
        const PROCESS: [&str; 9] =
            ["time", "type", "user", "host", "process", "parent", "bytes_out", "label", "incident"];
        let mut kinds = BTreeMap::new();
        for e in defaults() {
            let f = parse_flat(&e.json).unwrap_or_else(|| panic!("not flat JSON: {}", e.json));
            let keys: Vec<&str> = f.iter().map(|f| f.0.as_str()).collect();
            let kind = str_of(&f, "type");
            *kinds.entry(kind.to_string()).or_insert(0usize) += 1;
            match kind {
                "auth" => {
                    assert_eq!(keys, AUTH);
                    assert!(matches!(str_of(&f, "result"), "success" | "failure"));
                    assert_eq!(str_of(&f, "src_ip").split('.').count(), 4);
                }
                "process" => {
                    assert_eq!(keys, PROCESS);
                    assert!(matches!(f[6].1, Value::Int(b) if b >= 0));
                }
                other => panic!("type {other}"),
            }
            assert_eq!(str_of(&f, "time"), rfc3339(e.time_s));
            assert!(str_of(&f, "user").starts_with('u'));
            assert_eq!(str_of(&f, "label"), e.label.name());
            let incident = f.last().map(|f| &f.1).unwrap();
            match e.incident {
                Some(id) => assert_eq!(*incident, Value::Int(id as i64)),
                None => assert_eq!(*incident, Value::Null),
            }
            assert_eq!(e.label == Label::Benign, e.incident.is_none());
            assert!(!e.json.contains('\n'));
        }
        // About 30 % auth.
        let share = kinds["auth"] as f64 / (kinds["auth"] + kinds["process"]) as f64;
        assert!((0.25..0.35).contains(&share), "auth share {share}");
    }

    #[test]
    fn sorted_and_in_range() {
        let spec = ActorLogSpec::default();
        let events = defaults();
        assert!(events.windows(2).all(|w| w[0].time_s <= w[1].time_s));
        let end = spec.start_epoch_s + spec.days as i64 * DAY;
        assert!(events.iter().all(|e| (spec.start_epoch_s..end).contains(&e.time_s)));
        assert!((250_000..=400_000).contains(&events.len()), "{} events", events.len());
    }

    #[test]
    fn the_configured_incidents_after_attack_from_day() {
        let spec = ActorLogSpec::default();
        let from = spec.start_epoch_s + spec.attack_from_day as i64 * DAY;
        let mut incidents: BTreeMap<u32, (Label, usize, BTreeSet<&str>)> = BTreeMap::new();
        for e in defaults().iter().filter(|e| e.incident.is_some()) {
            assert!(e.time_s >= from, "incident before attack_from_day: {}", e.json);
            let user = e.json.split(r#""user":""#).nth(1).unwrap().split('"').next().unwrap();
            let entry =
                incidents.entry(e.incident.unwrap()).or_insert((e.label, 0, BTreeSet::new()));
            assert_eq!(entry.0, e.label);
            entry.1 += 1;
            entry.2.insert(user);
        }
        let ids =
            |label| incidents.iter().filter(|i| i.1.0 == label).map(|i| *i.0).collect::<Vec<_>>();
        assert_eq!(ids(Label::AccountTakeover), (1..=12).collect::<Vec<_>>());
        assert_eq!(ids(Label::Insider), (13..=20).collect::<Vec<_>>());
        for (id, (_, n, users)) in &incidents {
            assert!((3..=40).contains(n), "incident {id} has {n} events");
            assert_eq!(users.len(), 1, "incident {id} is one actor's");
        }
        // No incidents without days to put them on.
        let none = ActorLogSpec { actors: 20, days: 10, attack_from_day: 10, ..spec };
        assert!(actor_logs(&none).iter().all(|e| e.label == Label::Benign));
    }

    /// (user, value) pairs.
    type Pairs = HashSet<(String, String)>;

    /// (user, country) and (user, src_ip) of the benign auth events.
    fn benign_places() -> (Pairs, Pairs) {
        let (mut countries, mut ips) = (HashSet::new(), HashSet::new());
        for e in defaults().iter().filter(|e| e.label == Label::Benign) {
            let f = parse_flat(&e.json).unwrap();
            if str_of(&f, "type") == "auth" {
                let user = str_of(&f, "user").to_string();
                countries.insert((user.clone(), str_of(&f, "country").to_string()));
                ips.insert((user, str_of(&f, "src_ip").to_string()));
            }
        }
        (countries, ips)
    }

    #[test]
    fn takeovers_come_from_elsewhere_and_insiders_from_home() {
        let (countries, ips) = benign_places();
        for e in defaults().iter().filter(|e| e.label != Label::Benign) {
            let f = parse_flat(&e.json).unwrap();
            if str_of(&f, "type") != "auth" {
                continue;
            }
            let user = str_of(&f, "user").to_string();
            let country = (user.clone(), str_of(&f, "country").to_string());
            let ip = (user, str_of(&f, "src_ip").to_string());
            if e.label == Label::AccountTakeover {
                assert!(!countries.contains(&country) && !ips.contains(&ip), "{}", e.json);
            } else {
                assert!(countries.contains(&country) && ips.contains(&ip), "{}", e.json);
            }
        }
    }

    #[test]
    fn benign_novelty_is_there() {
        let spec = ActorLogSpec::default();
        let rollout = spec.start_epoch_s + rollout_day(spec.days) as i64 * DAY;
        let benign = || defaults().iter().filter(|e| e.label == Label::Benign);
        // The rollout: nobody runs zoom.exe before it, most do after.
        let zoom: Vec<_> =
            benign().filter(|e| e.json.contains(r#""process":"zoom.exe""#)).collect();
        assert!(zoom.iter().all(|e| e.time_s >= rollout));
        let users: HashSet<String> = zoom
            .iter()
            .map(|e| str_of(&parse_flat(&e.json).unwrap(), "user").to_string())
            .collect();
        assert!(users.len() > spec.actors * 3 / 4, "{} zoom users", users.len());
        // Trips and weekly backups.
        let (countries, _) = benign_places();
        let abroad = countries
            .iter()
            .filter(|(u, _)| countries.iter().filter(|c| &c.0 == u).count() > 1)
            .count();
        assert!(abroad >= 10, "{abroad} (user, country) pairs of travellers");
        let backups = benign().filter(|e| e.json.contains("backup.exe")).count();
        assert!(backups >= 20, "{backups} backups");
    }
}
