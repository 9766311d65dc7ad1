//! The normalised flow record every reader produces.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

/// The transport protocol of a flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// ICMP or ICMPv6 (ports carry type and code).
    Icmp,
    /// Any other IP protocol, by number (255 when the name was not recognised).
    Other(u8),
}

impl Proto {
    /// Parses a protocol name (`tcp`, `UDP`, `icmp`, `ipv6-icmp`, …) or an IP protocol number.
    pub fn parse(s: &str) -> Option<Proto> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("tcp") {
            return Some(Proto::Tcp);
        }
        if s.eq_ignore_ascii_case("udp") {
            return Some(Proto::Udp);
        }
        if s.eq_ignore_ascii_case("icmp")
            || s.eq_ignore_ascii_case("icmp6")
            || s.eq_ignore_ascii_case("ipv6-icmp")
            || s.eq_ignore_ascii_case("icmpv6")
        {
            return Some(Proto::Icmp);
        }
        if let Ok(n) = s.parse::<u8>() {
            return Some(Proto::from_number(n));
        }
        if s.is_empty() {
            return None;
        }
        Some(Proto::Other(255))
    }

    /// The protocol with IP protocol number `n`.
    pub fn from_number(n: u8) -> Proto {
        match n {
            6 => Proto::Tcp,
            17 => Proto::Udp,
            1 | 58 => Proto::Icmp,
            n => Proto::Other(n),
        }
    }

    /// The lower-case name used in output (`tcp`, `udp`, `icmp`, or the number).
    pub fn name(self) -> String {
        match self {
            Proto::Tcp => "tcp".into(),
            Proto::Udp => "udp".into(),
            Proto::Icmp => "icmp".into(),
            Proto::Other(n) => n.to_string(),
        }
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// How a connection went, in Zeek's `conn_state` terms; other formats map onto it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConnState {
    /// S0: connection attempt seen, no reply.
    S0,
    /// S1: established, not terminated.
    S1,
    /// SF: normal establishment and termination.
    Sf,
    /// REJ: attempt rejected.
    Rej,
    /// S2: established, close attempt by the originator seen (no reply from the responder).
    S2,
    /// S3: established, close attempt by the responder seen (no reply from the originator).
    S3,
    /// RSTO: established, the originator aborted (sent a RST).
    Rsto,
    /// RSTR: responder sent a RST.
    Rstr,
    /// RSTOS0: originator sent a SYN followed by a RST, no SYN-ACK from the responder.
    Rstos0,
    /// RSTRH: responder sent a SYN-ACK followed by a RST, no SYN from the originator.
    Rstrh,
    /// SH: originator sent a SYN followed by a FIN, no SYN-ACK from the responder.
    Sh,
    /// SHR: responder sent a SYN-ACK followed by a FIN, no SYN from the originator.
    Shr,
    /// OTH: no SYN seen, just midstream traffic.
    Oth,
    /// Established, by a format that says only that (Suricata `established`/`closed`, Argus
    /// states with both directions, NetFlow with an ACK).
    Established,
    /// Not established, by a format that says only that.
    NotEstablished,
    /// Unknown or not given.
    Unknown,
}

impl ConnState {
    /// Parses a Zeek `conn_state` (case-insensitive); anything else is [`ConnState::Unknown`].
    pub fn from_zeek(s: &str) -> ConnState {
        const STATES: [(&str, ConnState); 13] = [
            ("SF", ConnState::Sf),
            ("S0", ConnState::S0),
            ("REJ", ConnState::Rej),
            ("S1", ConnState::S1),
            ("RSTO", ConnState::Rsto),
            ("RSTR", ConnState::Rstr),
            ("OTH", ConnState::Oth),
            ("SH", ConnState::Sh),
            ("SHR", ConnState::Shr),
            ("S2", ConnState::S2),
            ("S3", ConnState::S3),
            ("RSTOS0", ConnState::Rstos0),
            ("RSTRH", ConnState::Rstrh),
        ];
        STATES
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(s))
            .map_or(ConnState::Unknown, |&(_, st)| st)
    }

    /// Whether the connection was established (a handshake completed, or data flowed both
    /// ways). Scans count the flows for which this is false.
    pub fn established(self) -> bool {
        matches!(
            self,
            ConnState::S1
                | ConnState::Sf
                | ConnState::S2
                | ConnState::S3
                | ConnState::Rsto
                | ConnState::Rstr
                | ConnState::Established
        )
    }

    /// Whether the attempt failed (no answer, or rejected): the TRW's "failure".
    pub fn failed(self) -> bool {
        matches!(
            self,
            ConnState::S0
                | ConnState::Rej
                | ConnState::Rstos0
                | ConnState::Rstrh
                | ConnState::Sh
                | ConnState::Shr
                | ConnState::NotEstablished
        )
    }

    /// The short name used in output (Zeek's, or `EST`, `NOTEST`, `-`).
    pub fn name(self) -> &'static str {
        match self {
            ConnState::S0 => "S0",
            ConnState::S1 => "S1",
            ConnState::Sf => "SF",
            ConnState::Rej => "REJ",
            ConnState::S2 => "S2",
            ConnState::S3 => "S3",
            ConnState::Rsto => "RSTO",
            ConnState::Rstr => "RSTR",
            ConnState::Rstos0 => "RSTOS0",
            ConnState::Rstrh => "RSTRH",
            ConnState::Sh => "SH",
            ConnState::Shr => "SHR",
            ConnState::Oth => "OTH",
            ConnState::Established => "EST",
            ConnState::NotEstablished => "NOTEST",
            ConnState::Unknown => "-",
        }
    }
}

/// The application protocol a sensor recognised (Zeek's `service`, Suricata's `app_proto`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Service {
    /// None recognised.
    #[default]
    None,
    /// HTTP.
    Http,
    /// TLS/SSL.
    Ssl,
    /// DNS.
    Dns,
    /// SSH.
    Ssh,
    /// Something else.
    Other,
}

impl Service {
    /// Parses a service name or a comma list (the first recognised name wins: `http,ssl` is
    /// HTTP). `-`, `(empty)`, `failed` and empty strings are [`Service::None`].
    pub fn parse(s: &str) -> Service {
        const NAMES: [(&str, Service); 9] = [
            ("http", Service::Http),
            ("ssl", Service::Ssl),
            ("dns", Service::Dns),
            ("ssh", Service::Ssh),
            ("tls", Service::Ssl),
            ("http2", Service::Http),
            ("quic", Service::Ssl),
            ("", Service::None),
            ("-", Service::None),
        ];
        let mut other = false;
        for part in s.split(',') {
            let part = part.trim();
            match NAMES.iter().find(|(name, _)| name.eq_ignore_ascii_case(part)) {
                Some(&(_, Service::None)) => {}
                Some(&(_, service)) => return service,
                None if ["(empty)", "failed", "unknown"]
                    .iter()
                    .any(|n| n.eq_ignore_ascii_case(part)) => {}
                None => other = true,
            }
        }
        if other { Service::Other } else { Service::None }
    }
}

/// A ground-truth label carried by labelled captures (Stratosphere's `label` column, Argus'
/// `Label`), used only for evaluation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Label {
    /// No label in the input.
    #[default]
    None,
    /// Benign, normal or background traffic.
    Benign,
    /// Malicious (malware, botnet, attack).
    Malicious,
    /// Labelled, but as unknown.
    Unknown,
}

impl Label {
    /// Reads a label text: `Malicious`, `Malware`, `Botnet`, `Attack` mean malicious; `Benign`,
    /// `Normal`, `Background` benign; any other non-empty text unknown.
    pub fn parse(s: &str) -> Label {
        let l = s.trim().to_ascii_lowercase();
        if l.is_empty() || l == "-" || l == "(empty)" {
            return Label::None;
        }
        if ["malicious", "malware", "botnet", "attack"].iter().any(|w| l.contains(w)) {
            Label::Malicious
        } else if ["benign", "normal", "background"].iter().any(|w| l.contains(w)) {
            Label::Benign
        } else {
            Label::Unknown
        }
    }
}

/// One connection (or one direction of one, for NetFlow), normalised.
///
/// `src` is the originator (Zeek's `id.orig_h`, Suricata's `src_ip`, NetFlow's `srcaddr`),
/// `dst` the responder. Counters a format does not carry are `None`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Flow {
    /// Start time, seconds since the Unix epoch (fractions kept).
    pub ts: f64,
    /// Duration in seconds, when known.
    pub duration: Option<f64>,
    /// Transport protocol.
    pub proto: Proto,
    /// Originator address.
    pub src: IpAddr,
    /// Originator port (ICMP: type).
    pub src_port: u16,
    /// Responder address.
    pub dst: IpAddr,
    /// Responder port (ICMP: code).
    pub dst_port: u16,
    /// Connection state.
    pub state: ConnState,
    /// Application protocol.
    pub service: Service,
    /// Payload bytes sent by the originator (Zeek `orig_bytes`, the seed's `src_tx`).
    pub src_bytes: Option<u64>,
    /// Payload bytes sent by the responder.
    pub dst_bytes: Option<u64>,
    /// IP-level bytes sent by the originator (Zeek `orig_ip_bytes`; RITA's data size).
    pub src_ip_bytes: Option<u64>,
    /// IP-level bytes sent by the responder.
    pub dst_ip_bytes: Option<u64>,
    /// Packets sent by the originator.
    pub src_pkts: Option<u64>,
    /// Packets sent by the responder.
    pub dst_pkts: Option<u64>,
    /// Whether the connection was still open when logged (Zeek `open_conn.log`).
    pub open: bool,
    /// Ground-truth label, when the input carries one.
    pub label: Label,
}

impl Default for Flow {
    fn default() -> Flow {
        Flow {
            ts: 0.0,
            duration: None,
            proto: Proto::Tcp,
            src: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            src_port: 0,
            dst: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            dst_port: 0,
            state: ConnState::Unknown,
            service: Service::None,
            src_bytes: None,
            dst_bytes: None,
            src_ip_bytes: None,
            dst_ip_bytes: None,
            src_pkts: None,
            dst_pkts: None,
            open: false,
            label: Label::None,
        }
    }
}

impl Flow {
    /// Bytes sent by the originator: IP-level when known, else payload, else 0.
    pub fn bytes_up(&self) -> u64 {
        self.src_ip_bytes.or(self.src_bytes).unwrap_or(0)
    }

    /// Bytes sent by the responder: IP-level when known, else payload, else 0.
    pub fn bytes_down(&self) -> u64 {
        self.dst_ip_bytes.or(self.dst_bytes).unwrap_or(0)
    }

    /// Packets in both directions, when either count is known.
    pub fn packets(&self) -> Option<u64> {
        match (self.src_pkts, self.dst_pkts) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
        }
    }
}

/// A compact, printable reference to a flow kept as evidence.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FlowRef {
    /// Start time, epoch seconds.
    pub ts: f64,
    /// Protocol.
    pub proto: Proto,
    /// Originator.
    pub src: IpAddr,
    /// Originator port.
    pub src_port: u16,
    /// Responder.
    pub dst: IpAddr,
    /// Responder port.
    pub dst_port: u16,
    /// State.
    pub state: ConnState,
    /// Bytes up (see [`Flow::bytes_up`]).
    pub bytes_up: u64,
    /// Bytes down.
    pub bytes_down: u64,
}

impl From<&Flow> for FlowRef {
    fn from(f: &Flow) -> FlowRef {
        FlowRef {
            ts: f.ts,
            proto: f.proto,
            src: f.src,
            src_port: f.src_port,
            dst: f.dst,
            dst_port: f.dst_port,
            state: f.state,
            bytes_up: f.bytes_up(),
            bytes_down: f.bytes_down(),
        }
    }
}

/// One DNS query from Zeek's `dns.log` (for DNS-tunnelling detection).
#[derive(Clone, Debug, PartialEq)]
pub struct DnsQuery {
    /// Query time, epoch seconds.
    pub ts: f64,
    /// The client that asked.
    pub src: IpAddr,
    /// The resolver asked.
    pub dst: IpAddr,
    /// The queried name, lower-case, without a trailing dot.
    pub query: String,
    /// Addresses in the answer, when any.
    pub answers: Vec<IpAddr>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_split_established_from_failed() {
        for s in ["S0", "REJ", "RSTOS0", "SH"] {
            let st = ConnState::from_zeek(s);
            assert!(st.failed() && !st.established(), "{s}");
        }
        for s in ["SF", "S1", "RSTO", "rstr"] {
            let st = ConnState::from_zeek(s);
            assert!(st.established() && !st.failed(), "{s}");
        }
        assert_eq!(ConnState::from_zeek("nonsense"), ConnState::Unknown);
        assert_eq!(ConnState::from_zeek("oth").name(), "OTH");
    }

    #[test]
    fn names_parse() {
        assert_eq!(Proto::parse("TCP"), Some(Proto::Tcp));
        assert_eq!(Proto::parse("17"), Some(Proto::Udp));
        assert_eq!(Proto::parse("ipv6-icmp"), Some(Proto::Icmp));
        assert_eq!(Proto::parse(""), None);
        assert_eq!(Service::parse("http,ssl"), Service::Http);
        assert_eq!(Service::parse("-"), Service::None);
        assert_eq!(Service::parse("krb_tcp"), Service::Other);
        assert_eq!(Label::parse("Malicious"), Label::Malicious);
        assert_eq!(Label::parse("flow=From-Botnet-V42-TCP"), Label::Malicious);
        assert_eq!(Label::parse("flow=Background-UDP"), Label::Benign);
        assert_eq!(Label::parse("-"), Label::None);
    }
}
