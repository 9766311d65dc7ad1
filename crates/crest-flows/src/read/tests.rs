//! Unit tests of the readers on small inline samples.

use std::io::{BufReader, Read, Write};
use std::net::IpAddr;

use super::*;
use crate::flow::{ConnState, Label, Proto, Service};

fn read(
    input: &[u8],
    name: &str,
    format: Format,
    skip: bool,
) -> (Result<ReadStats, ReadError>, Vec<Flow>) {
    let mut flows = Vec::new();
    let opts = ReadOptions { skip_invalid: skip };
    let r = read_flows(input, name, format, &opts, &mut |f| flows.push(f));
    (r, flows)
}

fn ok(input: &[u8], format: Format) -> (ReadStats, Vec<Flow>) {
    let (r, flows) = read(input, "in", format, false);
    (r.unwrap_or_else(|e| panic!("{e}")), flows)
}

fn err(input: &[u8], name: &str, format: Format) -> String {
    let (r, _) = read(input, name, format, false);
    r.expect_err("an error").to_string()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

const ZEEK_HEADER: &str = "#separator \\x09
#set_separator\t,
#empty_field\t(empty)
#unset_field\t-
#path\tconn
#open\t2023-01-05-18-51-06
#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents
#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tbool\tbool\tcount\tstring\tcount\tcount\tcount\tcount\tset[string]
";

fn zeek(rows: &[&str]) -> String {
    let mut s = ZEEK_HEADER.to_string();
    for r in rows {
        s.push_str(&r.replace(' ', "\t"));
        s.push('\n');
    }
    s.push_str("#close\t2023-01-05-19-00-00\n");
    s
}

#[test]
fn zeek_tsv_rows() {
    let input = zeek(&[
        "928.943457 Cxl7 10.0.2.112 49168 195.113.214.219 80 tcp http,ssl 0.055687 261 1077 SF - - 0 ShADadfF 5 473 5 1281 (empty)",
        "929.267228 CW9u 10.0.2.112 49171 151.97.100.116 6898 tcp - - - - S0 - - 0 S 1 52 0 0 Cabc,Cdef",
        "1601998368.896819 CdBO 2001:718:2:1663:c0db:dd37:83fd:3c64 5353 ff02::fb 5353 udp dns 0.100846 1953 0 S0 F F 0 D 2 2049 0 0 -",
    ]);
    let (stats, flows) = ok(input.as_bytes(), Format::Zeek);
    assert_eq!(stats, ReadStats { rows: 3, ..Default::default() });
    let f = &flows[0];
    assert_eq!(f.ts, 928.943457);
    assert_eq!(
        (f.src, f.src_port, f.dst, f.dst_port),
        (ip("10.0.2.112"), 49168, ip("195.113.214.219"), 80)
    );
    assert_eq!((f.proto, f.service, f.state), (Proto::Tcp, Service::Http, ConnState::Sf));
    assert_eq!(f.duration, Some(0.055687));
    assert_eq!((f.src_bytes, f.dst_bytes), (Some(261), Some(1077)));
    assert_eq!(
        (f.src_pkts, f.src_ip_bytes, f.dst_pkts, f.dst_ip_bytes),
        (Some(5), Some(473), Some(5), Some(1281))
    );
    assert_eq!(f.label, Label::None);
    assert!(!f.open);
    let g = &flows[1];
    assert_eq!((g.duration, g.src_bytes, g.dst_bytes), (None, None, None));
    assert_eq!((g.service, g.state), (Service::None, ConnState::S0));
    assert_eq!(g.dst_pkts, Some(0));
    let h = &flows[2];
    assert_eq!(h.src, ip("2001:718:2:1663:c0db:dd37:83fd:3c64"));
    assert_eq!(h.dst, ip("ff02::fb"));
    assert_eq!((h.proto, h.service), (Proto::Udp, Service::Dns));
}

#[test]
fn zeek_tsv_column_order_comes_from_fields() {
    // `_node_name` first, a label, reordered columns, several blocks, an indented header and
    // CRLF line ends.
    let input = "\t#separator \\x09\r
#fields\t_node_name\tid.resp_h\tid.resp_p\tid.orig_h\tid.orig_p\tts\tproto\tlabel\tdetailedlabel\r
worker-1\t8.8.8.8\t53\t10.0.0.1\t5000\t100.5\tudp\tMalicious\tFrom_malicious-x\r
#close\t2024\r
#separator \\x09
#unset_field\tNULL
#empty_field\tEMPTY
#fields\tts\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tconn_state\tservice\torig_bytes
200\t10.0.0.2\t1\t10.0.0.3\t2\ticmp\tREJ\tEMPTY\tNULL
";
    let (stats, flows) = ok(input.as_bytes(), Format::Zeek);
    assert_eq!(stats.rows, 2);
    assert_eq!(
        (flows[0].src, flows[0].src_port, flows[0].dst, flows[0].dst_port),
        (ip("10.0.0.1"), 5000, ip("8.8.8.8"), 53)
    );
    assert_eq!((flows[0].ts, flows[0].label), (100.5, Label::Malicious));
    assert_eq!(flows[0].state, ConnState::Unknown);
    assert_eq!(
        (flows[1].proto, flows[1].state, flows[1].service, flows[1].src_bytes),
        (Proto::Icmp, ConnState::Rej, Service::None, None)
    );
}

#[test]
fn zeek_tsv_errors_name_the_line_and_field() {
    let bad_ip = zeek(&["1.0 C 10.0.0.x 1 10.0.0.2 80 tcp - - - - S0 - - 0 S 1 52 0 0 -"]);
    assert_eq!(
        err(bad_ip.as_bytes(), "conn.log", Format::Zeek),
        "conn.log:9: field 'id.orig_h': not an IP address: '10.0.0.x'"
    );
    let bad_count = zeek(&["1.0 C 10.0.0.1 1 10.0.0.2 80 tcp - - 12x - S0 - - 0 S 1 52 0 0 -"]);
    assert_eq!(
        err(bad_count.as_bytes(), "conn.log", Format::Zeek),
        "conn.log:9: field 'orig_bytes': not a count: '12x'"
    );
    let bad_port = zeek(&["1.0 C 10.0.0.1 70000 10.0.0.2 80 tcp - - - - S0 - - 0 S 1 52 0 0 -"]);
    assert_eq!(
        err(bad_port.as_bytes(), "conn.log", Format::Zeek),
        "conn.log:9: field 'id.orig_p': not a port: '70000'"
    );
    let bad_ts = zeek(&["yesterday C 10.0.0.1 1 10.0.0.2 80 tcp - - - - S0 - - 0 S 1 52 0 0 -"]);
    assert_eq!(
        err(bad_ts.as_bytes(), "conn.log", Format::Zeek),
        "conn.log:9: field 'ts': not a time: 'yesterday'"
    );
    let short = zeek(&["1.0 C 10.0.0.1 1 10.0.0.2 80 tcp - - - - S0"]);
    assert_eq!(
        err(short.as_bytes(), "conn.log", Format::Zeek),
        "conn.log:9: field 'local_orig': missing (the row has 12 of the 21 columns in '#fields')"
    );
    let long = zeek(&["1.0 C 10.0.0.1 1 10.0.0.2 80 tcp - - - - S0 - - 0 S 1 52 0 0 - extra"]);
    assert_eq!(
        err(long.as_bytes(), "conn.log", Format::Zeek),
        "conn.log:9: 22 columns, but '#fields' names 21"
    );
    assert_eq!(
        err(b"1.0\t10.0.0.1\n", "conn.log", Format::Zeek),
        "conn.log:1: a data row before any '#fields' header"
    );
    assert_eq!(
        err(
            b"#separator \\x09\n#fields\tts\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\n",
            "conn.log",
            Format::Zeek
        ),
        "conn.log:2: field 'proto': missing from the '#fields' header"
    );
    assert_eq!(
        err(b"#separator \\x0909\n", "c", Format::Zeek),
        "c:1: '#separator' must be a single byte, not '\\x0909'"
    );
}

#[test]
fn skip_invalid_counts_and_keeps_the_first_message() {
    let input = zeek(&[
        "1.0 C 10.0.0.x 1 10.0.0.2 80 tcp - - - - S0 - - 0 S 1 52 0 0 -",
        "2.0 C 10.0.0.1 1 10.0.0.2 80 tcp - - - - S0 - - 0 S 1 52 0 0 -",
        "3.0 C 10.0.0.1 1 10.0.0.2 http tcp - - - - S0 - - 0 S 1 52 0 0 -",
    ]);
    let (r, flows) = read(input.as_bytes(), "conn.log", Format::Zeek, true);
    let stats = r.unwrap();
    assert_eq!((stats.rows, stats.skipped, flows.len()), (1, 2, 1));
    assert_eq!(
        stats.first_skipped.as_deref(),
        Some("conn.log:9: field 'id.orig_h': not an IP address: '10.0.0.x'")
    );
    assert_eq!(flows[0].ts, 2.0);
}

#[test]
fn zeek_json_lines() {
    let input = br#"{"ts":1700828217.314165,"uid":"Cf","id.orig_h":"192.168.1.9","id.orig_p":50820,"id.resp_h":"45.33.32.156","id.resp_p":443,"proto":"tcp","duration":0.2,"orig_bytes":0,"resp_bytes":0,"conn_state":"REJ","local_orig":true,"history":"Sr","orig_pkts":1,"orig_ip_bytes":60,"resp_pkts":1,"resp_ip_bytes":40,"orig_l2_addr":"c4:23:60:3d:fd:d3","tunnel_parents":["a","b"]}

{"ts":"2023-11-24T12:16:57.5Z","id.orig_h":"fe80::1","id.orig_p":5353,"id.resp_h":"ff02::fb","id.resp_p":5353,"proto":"udp","service":"dns"}
"#;
    let (stats, flows) = ok(input, Format::Zeek);
    assert_eq!(stats.rows, 2);
    let f = &flows[0];
    assert_eq!(
        (f.ts, f.src, f.src_port, f.dst, f.dst_port),
        (1700828217.314165, ip("192.168.1.9"), 50820, ip("45.33.32.156"), 443)
    );
    assert_eq!(
        (f.state, f.duration, f.src_ip_bytes, f.dst_ip_bytes),
        (ConnState::Rej, Some(0.2), Some(60), Some(40))
    );
    let g = &flows[1];
    assert_eq!(g.ts, 1700828217.5);
    assert_eq!(
        (g.src, g.service, g.duration, g.src_bytes, g.state),
        (ip("fe80::1"), Service::Dns, None, None, ConnState::Unknown)
    );

    let bad_port = br#"{"ts":1,"id.orig_h":"1.2.3.4","id.orig_p":"http","id.resp_h":"1.2.3.5","id.resp_p":80,"proto":"tcp"}"#;
    assert_eq!(
        err(bad_port, "conn.json", Format::Zeek),
        "conn.json:1: field 'id.orig_p': not a port: 'http'"
    );
    let no_ts = br#"{"id.orig_h":"1.2.3.4","id.orig_p":1,"id.resp_h":"1.2.3.5","id.resp_p":80,"proto":"tcp"}"#;
    assert_eq!(err(no_ts, "conn.json", Format::Zeek), "conn.json:1: field 'ts': missing");
    let broken = b"{\"ts\":1,\n";
    assert_eq!(
        err(broken, "conn.json", Format::Zeek),
        "conn.json:1: not a JSON object: EOF while parsing a value at line 1 column 8"
    );
}

#[test]
fn zeek_dns_log() {
    let input = "#separator \\x09
#set_separator\t|
#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tquery\tanswers
10.5\tC1\t10.0.0.1\t5000\t10.0.0.53\t53\tudp\tWWW.Example.COM.\t93.184.216.34|example.net|2606:2800:220:1::1
11.0\tC2\t10.0.0.1\t5001\t10.0.0.53\t53\tudp\t-\t-
12.0\tC3\t10.0.0.1\t5002\t10.0.0.53\t53\tudp\ta\\x2cb.test\t(empty)
";
    let mut qs = Vec::new();
    let stats = read_dns(input.as_bytes(), "dns.log", &ReadOptions::default(), &mut |q| qs.push(q))
        .unwrap();
    assert_eq!((stats.rows, stats.other_events), (2, 1));
    assert_eq!(qs[0].query, "www.example.com");
    assert_eq!(qs[0].answers, vec![ip("93.184.216.34"), ip("2606:2800:220:1::1")]);
    assert_eq!((qs[0].ts, qs[0].src, qs[0].dst), (10.5, ip("10.0.0.1"), ip("10.0.0.53")));
    assert_eq!((qs[1].query.as_str(), qs[1].answers.len()), ("a,b.test", 0));

    let json = br#"{"ts":1.5,"id.orig_h":"10.0.0.1","id.resp_h":"10.0.0.53","query":"x.test","answers":["1.2.3.4","cname.test"]}
{"ts":1.6,"id.orig_h":"10.0.0.1","id.resp_h":"nope","query":"y.test"}"#;
    let mut qs = Vec::new();
    let stats =
        read_dns(&json[..], "dns.json", &ReadOptions { skip_invalid: true }, &mut |q| qs.push(q))
            .unwrap();
    assert_eq!((stats.rows, stats.skipped), (1, 1));
    assert_eq!(
        stats.first_skipped.as_deref(),
        Some("dns.json:2: field 'id.resp_h': not an IP address: 'nope'")
    );
    assert_eq!(qs[0].answers, vec![ip("1.2.3.4")]);
}

const EVE: &str = r#"{"timestamp":"2021-06-06T15:57:37.272281+0200","flow_id":1,"event_type":"flow","src_ip":"192.168.1.132","src_port":1900,"dest_ip":"192.168.1.129","dest_port":44232,"proto":"UDP","app_proto":"failed","flow":{"pkts_toserver":12,"pkts_toclient":0,"bytes_toserver":4056,"bytes_toclient":0,"start":"2021-06-06T16:38:55.855844+0200","end":"2021-06-06T16:38:56.963027+0200","age":1,"state":"new","reason":"timeout","alerted":false}}
{"timestamp":"2021-06-06T15:57:37.272281+0200","flow_id":2,"event_type":"flow","src_ip":"91.238.203.56","src_port":48938,"dest_ip":"192.168.1.129","dest_port":445,"proto":"TCP","flow":{"pkts_toserver":2,"pkts_toclient":2,"bytes_toserver":120,"bytes_toclient":120,"start":"2021-06-06T17:34:31.140759+0200","end":"2021-06-06T17:34:31.141012+0200","age":0,"state":"closed","reason":"timeout","alerted":false},"tcp":{"tcp_flags":"16","tcp_flags_ts":"02","tcp_flags_tc":"14","syn":true,"rst":true,"ack":true,"state":"closed"}}
{"timestamp":"2021-06-06T15:57:38+0200","event_type":"alert","src_ip":"1.2.3.4","dest_ip":"5.6.7.8","proto":"TCP","alert":{"signature":"x"},"flow":{"pkts_toserver":1}}
{"event_type":"flow","src_ip":"2001:db8::1","src_port":443,"dest_ip":"2001:db8::2","dest_port":51000,"proto":"TCP","app_proto":"tls","flow":{"pkts_toserver":10,"pkts_toclient":12,"bytes_toserver":900,"bytes_toclient":5000,"start":"2021-06-06T10:00:00.000000+0000","end":"2021-06-06T10:00:10.500000+0000","state":"established"},"tcp":{"tcp_flags_ts":"1b","tcp_flags_tc":"1b"}}
{"event_type":"flow","src_ip":"10.0.0.1","dest_ip":"10.0.0.2","proto":"ICMP","icmp_type":8,"icmp_code":0,"flow":{"pkts_toserver":1,"pkts_toclient":1,"start":"2021-06-06T10:00:00Z"}}
{"event_type":"dns","dns":{"type":"query"}}
"#;

#[test]
fn suricata_flows() {
    let (stats, flows) = ok(EVE.as_bytes(), Format::Suricata);
    assert_eq!(stats, ReadStats { rows: 4, other_events: 2, ..Default::default() });
    let f = &flows[0];
    assert_eq!(
        (f.src, f.src_port, f.dst, f.dst_port, f.proto),
        (ip("192.168.1.132"), 1900, ip("192.168.1.129"), 44232, Proto::Udp)
    );
    assert_eq!(f.ts, 1622990335.855844);
    assert_eq!(f.duration, Some(1.107183));
    assert_eq!(
        (f.src_bytes, f.dst_bytes, f.src_pkts, f.dst_pkts),
        (Some(4056), Some(0), Some(12), Some(0))
    );
    assert_eq!((f.state, f.service), (ConnState::NotEstablished, Service::None));
    assert_eq!(flows[1].state, ConnState::Rej);
    let t = &flows[2];
    assert_eq!(
        (t.src, t.state, t.service, t.duration),
        (ip("2001:db8::1"), ConnState::Established, Service::Ssl, Some(10.5))
    );
    let i = &flows[3];
    assert_eq!(
        (i.proto, i.src_port, i.dst_port, i.state, i.ts),
        (Proto::Icmp, 8, 0, ConnState::Established, 1622973600.0)
    );

    let bad = br#"{"event_type":"flow","src_ip":"1.2.3.4","dest_ip":"5.6.7.8","proto":"TCP","flow":{"bytes_toserver":-3,"start":"2021-06-06T10:00:00Z"}}"#;
    assert_eq!(
        err(bad, "eve.json", Format::Suricata),
        "eve.json:1: field 'flow.bytes_toserver': not a count: '-3'"
    );
    let no_flow =
        br#"{"event_type":"flow","src_ip":"1.2.3.4","dest_ip":"5.6.7.8","proto":"TCP","flow":7}"#;
    assert_eq!(
        err(no_flow, "eve.json", Format::Suricata),
        "eve.json:1: field 'flow': not an object"
    );
    assert_eq!(err(b"{}", "eve.json", Format::Suricata), "eve.json:1: field 'event_type': missing");
}

#[test]
fn suricata_tcp_states() {
    use super::suricata::tcp_state;
    assert_eq!(tcp_state(0x02, 0x12, 1), ConnState::Established);
    assert_eq!(tcp_state(0x1b, 0x1b, 5), ConnState::Established);
    assert_eq!(tcp_state(0x02, 0x14, 1), ConnState::Rej);
    assert_eq!(tcp_state(0x02, 0, 0), ConnState::S0);
    assert_eq!(tcp_state(0x06, 0, 0), ConnState::Rstos0);
    assert_eq!(tcp_state(0x03, 0, 0), ConnState::Sh);
    assert_eq!(tcp_state(0x18, 0x18, 3), ConnState::Oth);
    assert_eq!(tcp_state(0x02, 0x10, 1), ConnState::NotEstablished);
}

const ARGUS: &str = "StartTime,Dur,Proto,SrcAddr,Sport,Dir,DstAddr,Dport,State,sTos,dTos,TotPkts,TotBytes,SrcBytes,SrcPkts,Label
2019/04/04 16:24:47.672448,63.822830,tcp,10.8.0.69,56101,   ->,14.1.11.113,999,S_RA,0,0,31,8764,1887,15,flow=From-Botnet-V1
2019/04/04 16:30:10.234728,1.262451,icmp,10.8.0.69,0x0008,   ->,110.128.128.128,0x7208,ECO,0,,2,144,144,2,
2018/12/18 14:00:00.595719,0.000181,tcp,2001:718:2:1634:96de:80ff:fe7a:bdf0,47428,   ->,2a00:1450:400c:c00::bd,443,SPA_SPA,114,63,2,376,135,1,flow=Background
2019/04/04 16:25:28.874773,891.366760,igmp,10.8.0.69,,   ->,0.0.0.1,,INT,192,,15,600,600,15,
2018/09/27 22:41:57.854743,127.995537,arp,192.168.2.12,,  who,192.168.2.1,,CON,,,10,510,300,,
";

#[test]
fn argus_rows() {
    let (stats, flows) = ok(ARGUS.as_bytes(), Format::Argus);
    assert_eq!(stats, ReadStats { rows: 4, other_events: 1, ..Default::default() });
    let f = &flows[0];
    assert_eq!(f.ts, 1554395087.672448);
    assert_eq!(
        (f.src, f.src_port, f.dst, f.dst_port),
        (ip("10.8.0.69"), 56101, ip("14.1.11.113"), 999)
    );
    assert_eq!((f.state, f.label, f.duration), (ConnState::Rej, Label::Malicious, Some(63.82283)));
    assert_eq!(
        (f.src_bytes, f.dst_bytes, f.src_pkts, f.dst_pkts),
        (Some(1887), Some(8764 - 1887), Some(15), Some(16))
    );
    let i = &flows[1];
    assert_eq!(
        (i.proto, i.src_port, i.dst_port, i.state, i.label),
        (Proto::Icmp, 8, 0x7208, ConnState::NotEstablished, Label::None)
    );
    assert_eq!(
        (flows[2].src, flows[2].state, flows[2].label),
        (ip("2001:718:2:1634:96de:80ff:fe7a:bdf0"), ConnState::Established, Label::Benign)
    );
    assert_eq!(
        (flows[3].proto, flows[3].src_port, flows[3].state),
        (Proto::Other(2), 0, ConnState::NotEstablished)
    );

    // Tab-separated, without SrcPkts, a label holding the separator.
    let tsv = "StartTime\tDur\tProto\tSrcAddr\tSport\tDir\tDstAddr\tDport\tState\tTotPkts\tTotBytes\tSrcBytes\tLabel
2018/05/10 10:52:47.283479\t0.045\tudp\t10.0.2.15\t68\t  <->\t10.0.2.2\t67\tCON\t2\t690\t345\tflow=Background\tUDP
";
    let (stats, flows) = ok(tsv.as_bytes(), Format::Argus);
    assert_eq!(stats.rows, 1);
    assert_eq!(
        (flows[0].state, flows[0].src_pkts, flows[0].dst_bytes, flows[0].label),
        (ConnState::Established, None, Some(345), Label::Benign)
    );
}

#[test]
fn argus_states() {
    use super::argus::state;
    let tcp = |s| state(Proto::Tcp, s);
    assert_eq!(tcp("S_SA"), ConnState::Established);
    assert_eq!(tcp("FSPA_FSPA"), ConnState::Established);
    assert_eq!(tcp("SR_SA"), ConnState::Established);
    assert_eq!(tcp("PA_PA"), ConnState::Established);
    assert_eq!(tcp("S_RA"), ConnState::Rej);
    assert_eq!(tcp("S_R"), ConnState::Rej);
    assert_eq!(tcp("S_"), ConnState::S0);
    assert_eq!(tcp("SR_"), ConnState::Rstos0);
    assert_eq!(tcp("SRPA_"), ConnState::NotEstablished);
    assert_eq!(tcp("S0"), ConnState::S0);
    assert_eq!(tcp("CON"), ConnState::Established);
    assert_eq!(state(Proto::Udp, "CON"), ConnState::Established);
    assert_eq!(state(Proto::Udp, "INT"), ConnState::NotEstablished);
    assert_eq!(state(Proto::Udp, "REQ"), ConnState::NotEstablished);
    assert_eq!(state(Proto::Udp, "UNK"), ConnState::Unknown);
    assert_eq!(state(Proto::Icmp, "ECR"), ConnState::Established);
    assert_eq!(state(Proto::Icmp, "ECO"), ConnState::NotEstablished);
    assert_eq!(state(Proto::Icmp, "URP"), ConnState::NotEstablished);
    assert_eq!(state(Proto::Tcp, ""), ConnState::Unknown);
}

#[test]
fn argus_errors() {
    let head = "StartTime,Dur,Proto,SrcAddr,Sport,Dir,DstAddr,Dport,State,TotPkts,TotBytes,SrcBytes,Label\n";
    let bad_ip = format!("{head}2019/04/04 16:24:47.1,1,tcp,10.8.0.x,1,->,1.2.3.4,2,S_,1,60,60,\n");
    assert_eq!(
        err(bad_ip.as_bytes(), "t.binetflow", Format::Argus),
        "t.binetflow:2: field 'SrcAddr': not an IP address: '10.8.0.x'"
    );
    let bad_bytes =
        format!("{head}2019/04/04 16:24:47.1,1,tcp,10.8.0.1,1,->,1.2.3.4,2,S_,1,60,70,\n");
    assert_eq!(
        err(bad_bytes.as_bytes(), "t.binetflow", Format::Argus),
        "t.binetflow:2: field 'SrcBytes': 70 is more than TotBytes (60)"
    );
    let short = format!("{head}2019/04/04 16:24:47.1,1,tcp,10.8.0.1,1,->,1.2.3.4\n");
    assert_eq!(
        err(short.as_bytes(), "t.binetflow", Format::Argus),
        "t.binetflow:2: field 'Dport': missing (the row has 7 of the 13 columns in the header)"
    );
    let bad_time = format!("{head}04/04/2019,1,tcp,10.8.0.1,1,->,1.2.3.4,2,S_,1,60,60,\n");
    assert_eq!(
        err(bad_time.as_bytes(), "t.binetflow", Format::Argus),
        "t.binetflow:2: field 'StartTime': not a time: '04/04/2019'"
    );
    assert_eq!(
        err(b"Dur,Proto\n", "t.binetflow", Format::Argus),
        "t.binetflow:1: a data row before the 'StartTime,…' header line"
    );
    assert_eq!(
        err(b"StartTime,Proto,SrcAddr\n", "t.binetflow", Format::Argus),
        "t.binetflow:1: field 'DstAddr': missing from the header line"
    );
}

#[test]
fn seed_csv() {
    let input = b"2020-11-01 12:00:00,tcp,SF,10.0.0.1,5000,10.0.0.2,80,300,1200
2020-11-01 12:00:01, udp , S0 ,\"fd00::1\",53,fd00::2,53,,
\n2020-11-01 12:00:02,6,EST,10.0.0.1,1,10.0.0.2,2,1,2
";
    let (stats, flows) = ok(input, Format::SeedCsv);
    assert_eq!(stats.rows, 3);
    assert_eq!(flows[0].ts, 1604232000.0);
    assert_eq!(
        (flows[0].proto, flows[0].state, flows[0].src_bytes, flows[0].dst_bytes),
        (Proto::Tcp, ConnState::Sf, Some(300), Some(1200))
    );
    assert_eq!(
        (flows[1].src, flows[1].proto, flows[1].state, flows[1].src_bytes),
        (ip("fd00::1"), Proto::Udp, ConnState::S0, None)
    );
    assert_eq!((flows[2].proto, flows[2].state), (Proto::Tcp, ConnState::Established));

    assert_eq!(
        err(
            b"2020-11-01 12:00:00,tcp,SF,10.0.0.1,5000,10.0.0.2,80,300\n",
            "seed.csv",
            Format::SeedCsv
        ),
        "seed.csv:1: field 'dst_tx': missing (the row has 8 of 9 columns)"
    );
    assert_eq!(
        err(
            b"2020-11-01 12:00:00,tcp,SF,10.0.0.1,5000,10.0.0.2,80,300,1,2\n",
            "seed.csv",
            Format::SeedCsv
        ),
        "seed.csv:1: 10 columns, expected 9"
    );
    assert_eq!(
        err(
            b"2020-11-01 12:00:00,tcp,SF,10.0.0.1,5000,10.0.0.256,80,300,1\n",
            "seed.csv",
            Format::SeedCsv
        ),
        "seed.csv:1: field 'dst_ip': not an IP address: '10.0.0.256'"
    );
    assert_eq!(
        err(
            b"2020-11-01 12:00:00,tcp,SF,10.0.0.1,5000,10.0.0.2,80,-3,1\n",
            "seed.csv",
            Format::SeedCsv
        ),
        "seed.csv:1: field 'src_tx': not a byte count: '-3'"
    );
    assert_eq!(
        err(b"2020-11-01,tcp,SF,10.0.0.1,5000,10.0.0.2,80,3,1\n", "seed.csv", Format::SeedCsv),
        "seed.csv:1: field 'ts': not a time (YYYY-MM-DD HH:MM:SS): '2020-11-01'"
    );
}

/// A NetFlow v5 packet with the given records (src, dst, sport, dport, proto, flags, first).
fn v5_packet(records: &[(u32, u32, u16, u16, u8, u8, u32)]) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend(5u16.to_be_bytes());
    p.extend((records.len() as u16).to_be_bytes());
    p.extend(100_000u32.to_be_bytes()); // sys_uptime, ms
    p.extend(1_700_000_000u32.to_be_bytes()); // unix_secs
    p.extend(500_000_000u32.to_be_bytes()); // unix_nsecs
    p.extend(1u32.to_be_bytes()); // flow_sequence
    p.extend([0, 0]); // engine type, id
    p.extend(0u16.to_be_bytes()); // sampling
    for &(src, dst, sport, dport, proto, flags, first) in records {
        p.extend(src.to_be_bytes());
        p.extend(dst.to_be_bytes());
        p.extend(0u32.to_be_bytes()); // nexthop
        p.extend(1u16.to_be_bytes());
        p.extend(2u16.to_be_bytes());
        p.extend(3u32.to_be_bytes()); // dPkts
        p.extend(180u32.to_be_bytes()); // dOctets
        p.extend(first.to_be_bytes());
        p.extend((first + 2500).to_be_bytes()); // last
        p.extend(sport.to_be_bytes());
        p.extend(dport.to_be_bytes());
        p.extend([0, flags, proto, 0]);
        p.extend([0, 0, 0, 0, 24, 24, 0, 0]);
    }
    p
}

fn ipfix_message(domain: u32, sets: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let body: usize = sets.iter().map(|(_, b)| 4 + b.len()).sum();
    let mut p = Vec::new();
    p.extend(10u16.to_be_bytes());
    p.extend(((16 + body) as u16).to_be_bytes());
    p.extend(1_700_000_100u32.to_be_bytes());
    p.extend(7u32.to_be_bytes());
    p.extend(domain.to_be_bytes());
    for (id, b) in sets {
        p.extend(id.to_be_bytes());
        p.extend(((4 + b.len()) as u16).to_be_bytes());
        p.extend(b);
    }
    p
}

/// An IPFIX template (id 256): src v4, dst v4, sport, dport, proto, flags, octets, packets,
/// flowStartMilliseconds, flowEndMilliseconds, reverse octets, reverse packets, reverse flags.
fn ipfix_template() -> Vec<u8> {
    let mut t = Vec::new();
    t.extend(256u16.to_be_bytes());
    t.extend(13u16.to_be_bytes());
    for (id, len) in
        [(8u16, 4u16), (12, 4), (7, 2), (11, 2), (4, 1), (6, 1), (1, 8), (2, 8), (152, 8), (153, 8)]
    {
        t.extend(id.to_be_bytes());
        t.extend(len.to_be_bytes());
    }
    for (id, len) in [(1u16, 8u16), (2, 8), (6, 1)] {
        t.extend((id | 0x8000).to_be_bytes());
        t.extend(len.to_be_bytes());
        t.extend(29305u32.to_be_bytes());
    }
    t
}

fn ipfix_record(src: [u8; 4], dst: [u8; 4], flags: u8, rflags: u8, rpkts: u64) -> Vec<u8> {
    let mut r = Vec::new();
    r.extend(src);
    r.extend(dst);
    r.extend(40000u16.to_be_bytes());
    r.extend(443u16.to_be_bytes());
    r.push(6);
    r.push(flags);
    r.extend(1000u64.to_be_bytes());
    r.extend(10u64.to_be_bytes());
    r.extend(1_700_000_000_250u64.to_be_bytes());
    r.extend(1_700_000_003_000u64.to_be_bytes());
    r.extend(5000u64.to_be_bytes());
    r.extend(rpkts.to_be_bytes());
    r.push(rflags);
    r
}

#[test]
fn netflow_v5() {
    let mut bytes = v5_packet(&[
        (0x0a00_0001, 0x0a00_0002, 40000, 80, 6, 0x12, 90_000),
        (0x0a00_0001, 0x0a00_0003, 40001, 81, 6, 0x02, 95_000),
    ]);
    bytes.extend(v5_packet(&[(0xc0a8_0001, 0x0808_0808, 5353, 53, 17, 0, 100_000)]));
    let (stats, flows) = ok(&bytes, Format::NetFlow);
    assert_eq!(stats.rows, 3);
    let f = &flows[0];
    assert_eq!(f.ts, 1_699_999_990.5);
    assert_eq!((f.src, f.dst, f.src_port, f.dst_port), (ip("10.0.0.1"), ip("10.0.0.2"), 40000, 80));
    assert_eq!((f.proto, f.state, f.duration), (Proto::Tcp, ConnState::Established, Some(2.5)));
    assert_eq!(
        (f.src_ip_bytes, f.src_pkts, f.dst_pkts, f.src_bytes),
        (Some(180), Some(3), None, None)
    );
    assert_eq!(flows[1].state, ConnState::NotEstablished);
    assert_eq!(
        (flows[2].proto, flows[2].state, flows[2].ts),
        (Proto::Udp, ConnState::Unknown, 1_700_000_000.5)
    );
    assert_eq!(sniff("dump.bin", &bytes), Some(Format::NetFlow));
}

#[test]
fn netflow_truncated_and_garbage_are_errors() {
    let bytes = v5_packet(&[(1, 2, 3, 4, 6, 0, 0), (1, 2, 3, 4, 6, 0, 0)]);
    let mut two = bytes.clone();
    two.extend(&bytes[..bytes.len() - 7]);
    assert_eq!(
        err(&two, "nf.bin", Format::NetFlow),
        "nf.bin: packet 1 at byte 120: truncated: a v5 packet of 2 records needs 120 bytes, 113 left"
    );
    let (r, flows) = read(&two, "nf.bin", Format::NetFlow, true);
    let stats = r.unwrap();
    assert_eq!((stats.rows, stats.skipped, flows.len()), (2, 1, 2));
    assert_eq!(
        err(b"\x00\x63garbage", "nf.bin", Format::NetFlow),
        "nf.bin: packet 0 at byte 0: not a NetFlow v5/v7/v9 or IPFIX packet (version 99)"
    );
    assert_eq!(
        err(&ipfix_message(1, &[])[..12], "nf.bin", Format::NetFlow),
        "nf.bin: packet 0 at byte 0: truncated: an IPFIX message needs 16 bytes, 12 left"
    );
}

#[test]
fn ipfix_templates_and_biflows() {
    let mut bytes =
        ipfix_message(1, &[(256, ipfix_record([9, 9, 9, 9], [8, 8, 8, 8], 2, 0x12, 1))]);
    bytes.extend(ipfix_message(1, &[(2, ipfix_template())]));
    let mut data = ipfix_record([10, 0, 0, 1], [10, 0, 0, 2], 0x1b, 0x1b, 12);
    data.extend(ipfix_record([10, 0, 0, 1], [10, 0, 0, 3], 0x02, 0x14, 1));
    bytes.extend(ipfix_message(1, &[(256, data)]));
    // Another observation domain has no template 256.
    bytes.extend(ipfix_message(2, &[(256, ipfix_record([1, 1, 1, 1], [2, 2, 2, 2], 2, 0, 0))]));
    let (stats, flows) = ok(&bytes, Format::NetFlow);
    assert_eq!((stats.rows, stats.other_events, stats.skipped), (2, 1, 2));
    assert_eq!(
        stats.first_skipped.as_deref(),
        Some(
            "in: IPFIX data set for template 256 arrived before its template; its records are lost"
        )
    );
    let f = &flows[0];
    assert_eq!(
        (f.src, f.dst, f.src_port, f.dst_port, f.proto),
        (ip("10.0.0.1"), ip("10.0.0.2"), 40000, 443, Proto::Tcp)
    );
    assert_eq!(f.ts, 1_700_000_000.25);
    assert_eq!(f.duration, Some(2.75));
    assert_eq!(
        (f.src_ip_bytes, f.src_pkts, f.dst_ip_bytes, f.dst_pkts),
        (Some(1000), Some(10), Some(5000), Some(12))
    );
    assert_eq!(f.state, ConnState::Established);
    assert_eq!(flows[1].state, ConnState::Rej);
}

#[test]
fn netflow_v9_template_then_data() {
    // Header, a template FlowSet (id 0) for template 300, a data FlowSet.
    let mut tpl = Vec::new();
    tpl.extend(300u16.to_be_bytes());
    tpl.extend(8u16.to_be_bytes());
    for (id, len) in [(8u16, 4u16), (12, 4), (7, 2), (11, 2), (4, 1), (1, 4), (2, 4), (22, 4)] {
        tpl.extend(id.to_be_bytes());
        tpl.extend(len.to_be_bytes());
    }
    let mut rec = vec![192, 168, 0, 1, 192, 168, 0, 2];
    rec.extend(1234u16.to_be_bytes());
    rec.extend(53u16.to_be_bytes());
    rec.push(17);
    rec.extend(64u32.to_be_bytes());
    rec.extend(1u32.to_be_bytes());
    rec.extend(40_000u32.to_be_bytes());
    rec.extend([0, 0, 0]); // padding to 4
    let mut p = Vec::new();
    p.extend(9u16.to_be_bytes());
    p.extend(2u16.to_be_bytes());
    p.extend(50_000u32.to_be_bytes()); // sys_uptime
    p.extend(1_700_000_000u32.to_be_bytes());
    p.extend(1u32.to_be_bytes());
    p.extend(0u32.to_be_bytes()); // source id
    p.extend(0u16.to_be_bytes());
    p.extend(((4 + tpl.len()) as u16).to_be_bytes());
    p.extend(&tpl);
    p.extend(300u16.to_be_bytes());
    p.extend(((4 + rec.len()) as u16).to_be_bytes());
    p.extend(&rec);
    let mut bytes = p.clone();
    bytes.extend(v5_packet(&[(1, 2, 3, 4, 6, 0x12, 0)]));
    let (stats, flows) = ok(&bytes, Format::NetFlow);
    assert_eq!((stats.rows, stats.other_events, stats.skipped), (2, 1, 0));
    let f = &flows[0];
    assert_eq!(
        (f.src, f.dst, f.src_port, f.dst_port, f.proto),
        (ip("192.168.0.1"), ip("192.168.0.2"), 1234, 53, Proto::Udp)
    );
    assert_eq!((f.src_ip_bytes, f.src_pkts, f.ts), (Some(64), Some(1), 1_699_999_990.0));
    assert_eq!(flows[1].proto, Proto::Tcp);
}

#[test]
fn truncated_gzip_is_an_io_error() {
    let text = zeek(&["1.0 C 10.0.0.1 1 10.0.0.2 80 tcp - - - - S0 - - 0 S 1 52 0 0 -"; 200]);
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(text.as_bytes()).unwrap();
    let gz = enc.finish().unwrap();
    for cut in [gz.len() / 2, gz.len() - 4, 10] {
        let reader = BufReader::new(flate2::read::GzDecoder::new(&gz[..cut]));
        let mut n = 0;
        let r = read_flows(
            reader,
            "conn.log.gz",
            Format::Zeek,
            &ReadOptions { skip_invalid: true },
            &mut |_| n += 1,
        );
        match r {
            Err(ReadError::Io { ref name, .. }) => assert_eq!(name, "conn.log.gz"),
            other => panic!("cut at {cut}: {other:?}"),
        }
        assert!(r.unwrap_err().to_string().starts_with("conn.log.gz: read error at line "));
    }
    // NetFlow reads the whole input first: the error names the byte reached.
    let mut gzd = flate2::read::GzDecoder::new(&gz[..gz.len() / 2]);
    let mut sink = Vec::new();
    assert!(gzd.read_to_end(&mut sink).is_err());
    let reader = BufReader::new(flate2::read::GzDecoder::new(&gz[..gz.len() / 2]));
    let e = read_flows(reader, "nf.gz", Format::NetFlow, &ReadOptions::default(), &mut |_| {})
        .unwrap_err();
    assert!(e.to_string().starts_with("nf.gz: read error at byte "), "{e}");
}

#[test]
fn sniffing() {
    assert_eq!(sniff("x", ZEEK_HEADER.as_bytes()), Some(Format::Zeek));
    assert_eq!(sniff("x", b"\t#separator \\x09\n"), Some(Format::Zeek));
    assert_eq!(sniff("x", br#"{"ts":1.0,"uid":"C","id.orig_h":"1.2.3.4"}"#), Some(Format::Zeek));
    assert_eq!(sniff("x", EVE.as_bytes()), Some(Format::Suricata));
    assert_eq!(sniff("x", ARGUS.as_bytes()), Some(Format::Argus));
    assert_eq!(sniff("x", b"StartTime\tDur\tProto\n"), Some(Format::Argus));
    assert_eq!(
        sniff("x", b"2020-11-01 12:00:00,tcp,SF,10.0.0.1,5000,10.0.0.2,80,300,1200\n"),
        Some(Format::SeedCsv)
    );
    assert_eq!(
        sniff(
            "test1.nfdump",
            b"\x0c\xa5\x01\x00\x00\x00\x00\x00\x02\x00\x00\x00none\0\0\0\0\0\0\0\0\0\0"
        ),
        None
    );
    assert_eq!(sniff("a/b/test2.binetflow", b""), Some(Format::Argus));
    assert_eq!(sniff("eve.json.gz", b""), Some(Format::Suricata));
    assert_eq!(sniff("conn.00.log.gz", b""), Some(Format::Zeek));
    assert_eq!(sniff("flows.csv", b""), Some(Format::SeedCsv));
    assert_eq!(sniff("notes.txt", b"hello"), None);
    for f in Format::ALL {
        assert_eq!(Format::parse(f.name()), Some(f));
    }
}

#[test]
fn empty_inputs_read_nothing() {
    for f in Format::ALL {
        let (stats, flows) = ok(b"", f);
        assert_eq!((stats, flows.len()), (ReadStats::default(), 0));
    }
}

mod props {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// No input makes any reader panic, and the counts add up.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600), skip in any::<bool>()) {
            for f in Format::ALL {
                let (r, flows) = read(&bytes, "fuzz", f, skip);
                if let Ok(stats) = r {
                    prop_assert_eq!(stats.rows, flows.len() as u64);
                }
            }
            let _ = read_dns(&bytes[..], "fuzz", &ReadOptions { skip_invalid: skip }, &mut |_| {});
        }

        /// Mutated Zeek rows never panic either (closer to valid input than random bytes).
        #[test]
        fn mutated_zeek_never_panics(pos in 0usize..2000, byte in any::<u8>(), skip in any::<bool>()) {
            let mut input = zeek(&["1.0 C 10.0.0.1 1 10.0.0.2 80 tcp http 0.5 10 20 SF - - 0 S 1 52 0 0 -"; 3]).into_bytes();
            let at = pos % input.len();
            input[at] = byte;
            let (r, flows) = read(&input, "fuzz", Format::Zeek, skip);
            if let Ok(stats) = r {
                prop_assert_eq!(stats.rows, flows.len() as u64);
            }
        }
    }
}
