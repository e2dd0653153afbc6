use proptest::prelude::*;

use super::*;

/// RESP for one command.
fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// What a connection does: appends each chunk to its buffer and takes every complete
/// command from the front. Returns the commands, or the first error.
fn feed(chunks: &[&[u8]]) -> Result<Vec<Vec<Vec<u8>>>, ProtocolError> {
    let mut parser = Parser::new();
    let mut buf: Vec<u8> = Vec::new();
    let mut commands = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            match parser.parse(&buf)? {
                Parsed::Command(n) => {
                    commands.push(parser.args(&buf).iter().map(<[u8]>::to_vec).collect());
                    buf.drain(..n);
                }
                Parsed::Empty(n) => {
                    buf.drain(..n);
                }
                Parsed::Incomplete => break,
            }
        }
    }
    assert!(buf.is_empty() || parser.parse(&buf)? == Parsed::Incomplete);
    Ok(commands)
}

fn args(list: &[&str]) -> Vec<Vec<u8>> {
    list.iter().map(|a| a.as_bytes().to_vec()).collect()
}

#[test]
fn pipelined_commands_parse_in_order() {
    let mut wire = encode(&[b"SET", b"k", b"v"]);
    wire.extend(encode(&[b"GET", b"k"]));
    wire.extend_from_slice(b"PING\r\n");
    let got = feed(&[&wire]).unwrap();
    assert_eq!(
        got,
        [
            args(&["SET", "k", "v"]),
            args(&["GET", "k"]),
            args(&["PING"])
        ]
    );
}

#[test]
fn every_split_boundary_gives_the_same_commands() {
    let mut wire = encode(&[b"SET", b"key:\r\n", b"bin\0ary\r\nvalue"]);
    wire.extend(encode(&[b"MGET", b"a", b"", b"c"]));
    wire.extend_from_slice(b"ECHO \"a b\\r\\n\"\r\n*0\r\n\r\n");
    let whole = feed(&[&wire]).unwrap();
    assert_eq!(whole.len(), 3);
    assert_eq!(whole[2], [b"ECHO".to_vec(), b"a b\r\n".to_vec()]);
    for i in 0..=wire.len() {
        assert_eq!(
            feed(&[&wire[..i], &wire[i..]]).unwrap(),
            whole,
            "split at {i}"
        );
    }
    let bytes: Vec<&[u8]> = wire.chunks(1).collect();
    assert_eq!(feed(&bytes).unwrap(), whole, "a byte at a time");
}

/// Found by the `resp` fuzz target: a count line cut after its `\r`, then completed
/// with the whole command, left the scan mark of that line behind, and the blank line
/// after the command was read together with the next one as one inline command.
#[test]
fn a_line_cut_at_its_cr_leaves_nothing_for_the_next_command() {
    let wire = b"\n$4\r\nECHO\r\n$1\r\na\r\n\r\n*1\r\n$4\r\nPING\r\n";
    let commands = feed(&[b"*2\r", wire]).unwrap();
    assert_eq!(commands, vec![args(&["ECHO", "a"]), args(&["PING"])]);
}

#[test]
fn empty_arrays_and_blank_lines_are_skipped() {
    assert_eq!(
        feed(&[b"*0\r\n\r\n  \r\nPING\r\n"]).unwrap(),
        [args(&["PING"])]
    );
}

#[test]
fn hostile_frames_are_refused() {
    let big_bulk = format!("*1\r\n${}\r\n", MAX_BULK_LEN + 1);
    let big_array = format!("*{}\r\n", MAX_ARRAY_LEN + 1);
    let cases: [(&[u8], ProtocolError); 14] = [
        (b"*-1\r\n", ProtocolError::InvalidMultibulkLength),
        (b"*1\r\n$-5\r\n", ProtocolError::InvalidBulkLength),
        (big_bulk.as_bytes(), ProtocolError::InvalidBulkLength),
        (big_array.as_bytes(), ProtocolError::InvalidMultibulkLength),
        (b"*x\r\n", ProtocolError::InvalidMultibulkLength),
        (b"*1\r\n$3x\r\n", ProtocolError::InvalidBulkLength),
        (b"*1\r\n$+3\r\n", ProtocolError::InvalidBulkLength),
        (b"*1\r\n$03\r\n", ProtocolError::InvalidBulkLength),
        (b"*1\r\n$\r\n", ProtocolError::InvalidBulkLength),
        (
            b"*2\r\n*1\r\n$4\r\nPING\r\n",
            ProtocolError::ExpectedBulk(b'*'),
        ),
        (b"*1\r\n$4\r\nPINGxx", ProtocolError::MissingCrlf),
        (b"*1\rx", ProtocolError::InvalidMultibulkLength),
        (b"*1\r\n:4\r\n", ProtocolError::ExpectedBulk(b':')),
        (b"SET \"unterminated\r\n", ProtocolError::UnbalancedQuotes),
    ];
    for (wire, err) in cases {
        assert_eq!(
            feed(&[wire]),
            Err(err),
            "{:?}",
            String::from_utf8_lossy(wire)
        );
        // The same error whichever way the frame arrives.
        let bytes: Vec<&[u8]> = wire.chunks(1).collect();
        assert_eq!(feed(&bytes), Err(err));
    }
    assert_eq!(
        ProtocolError::ExpectedBulk(b'*').to_string(),
        "Protocol error: expected '$', got '*'"
    );
    assert_eq!(
        ProtocolError::InvalidBulkLength.to_string(),
        "Protocol error: invalid bulk length"
    );
}

#[test]
fn endless_lines_are_cut_off_at_64_kib() {
    let line = vec![b'a'; MAX_INLINE_LEN];
    assert_eq!(
        feed(&[&line]).unwrap(),
        Vec::<Vec<Vec<u8>>>::new(),
        "at the limit: waits"
    );
    assert_eq!(feed(&[&line, b"a"]), Err(ProtocolError::TooBigInline));
    let mut count = b"*1".to_vec();
    count.resize(MAX_INLINE_LEN + 2, b'1');
    assert_eq!(feed(&[&count]), Err(ProtocolError::TooBigMultibulkCount));
    let mut bulk = b"*1\r\n$1".to_vec();
    bulk.resize(MAX_INLINE_LEN + 8, b'1');
    assert_eq!(feed(&[&bulk]), Err(ProtocolError::TooBigBulkCount));
}

#[test]
fn a_line_arriving_a_byte_at_a_time_is_scanned_once() {
    let mut parser = Parser::new();
    let mut buf = Vec::new();
    for _ in 0..MAX_INLINE_LEN {
        buf.push(b'x');
        assert_eq!(parser.parse(&buf), Ok(Parsed::Incomplete));
        assert_eq!(parser.scanned, buf.len());
    }
    buf.extend_from_slice(b"\r\n");
    assert_eq!(parser.parse(&buf), Ok(Parsed::Command(buf.len())));
}

#[test]
fn inline_commands_split_like_redis() {
    let cases: [(&[u8], &[&[u8]]); 6] = [
        (b"set k v\r\n", &[b"set", b"k", b"v"]),
        (b"  set\t k  v  \n", &[b"set", b"k", b"v"]),
        (b"echo \"a\\x41\\n\\\"q\"\r\n", &[b"echo", b"aA\n\"q"]),
        (b"echo 'it\\'s' x\r\n", &[b"echo", b"it's", b"x"]),
        (b"echo foo\"bar baz\"\r\n", &[b"echo", b"foobar baz"]),
        (b"echo \"\"\r\n", &[b"echo", b""]),
    ];
    for (wire, want) in cases {
        let want: Vec<Vec<u8>> = want.iter().map(|a| a.to_vec()).collect();
        assert_eq!(
            feed(&[wire]).unwrap(),
            [want],
            "{:?}",
            String::from_utf8_lossy(wire)
        );
    }
    for bad in [&b"echo \"a\"b\r\n"[..], b"echo 'a\r\n", b"echo \"a\\\"\r\n"] {
        assert_eq!(feed(&[bad]), Err(ProtocolError::UnbalancedQuotes));
    }
}

#[test]
fn integers_parse_as_redis_reads_them() {
    for (s, v) in [
        ("0", Some(0)),
        ("-1", Some(-1)),
        ("9223372036854775807", Some(i64::MAX)),
        ("-9223372036854775808", Some(i64::MIN)),
        ("9223372036854775808", None),
        ("-0", None),
        ("01", None),
        ("+1", None),
        (" 1", None),
        ("1 ", None),
        ("", None),
        ("-", None),
        ("1.5", None),
    ] {
        assert_eq!(parse_i64(s.as_bytes()), v, "{s:?}");
    }
}

/// Random binary arguments, with CR and LF well represented.
fn arg() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            Just(b'\r'),
            Just(b'\n'),
            Just(b'*'),
            Just(b'$'),
            any::<u8>()
        ],
        0..40,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Commands of random binary arguments, pipelined and cut at random places, parse
    /// back to themselves.
    #[test]
    fn random_commands_cut_anywhere_parse_back(
        commands in prop::collection::vec(prop::collection::vec(arg(), 1..6), 1..12),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
    ) {
        let mut wire = Vec::new();
        for c in &commands {
            let refs: Vec<&[u8]> = c.iter().map(Vec::as_slice).collect();
            wire.extend(encode(&refs));
        }
        let mut at: Vec<usize> = cuts.iter().map(|i| i.index(wire.len() + 1)).collect();
        at.sort_unstable();
        let mut chunks = Vec::new();
        let mut last = 0;
        for a in at {
            chunks.push(&wire[last..a]);
            last = a;
        }
        chunks.push(&wire[last..]);
        prop_assert_eq!(feed(&chunks).unwrap(), commands);
    }

    /// Any bytes at all: an error or commands, never a panic; and cutting them up never
    /// changes the outcome.
    #[test]
    fn arbitrary_bytes_never_panic(
        wire in prop::collection::vec(
            prop_oneof![Just(b'\r'), Just(b'\n'), Just(b'*'), Just(b'$'), Just(b'1'), any::<u8>()],
            0..200,
        ),
        cut in any::<prop::sample::Index>(),
    ) {
        let whole = feed(&[&wire]);
        let at = cut.index(wire.len() + 1);
        prop_assert_eq!(feed(&[&wire[..at], &wire[at..]]), whole);
    }
}
