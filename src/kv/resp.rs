//! The request parser: RESP2 arrays of bulk strings, and inline commands.
//!
//! A [`Parser`] reads one command at a time from the front of a buffer, and resumes
//! where it stopped when the buffer grows: a command that arrives a byte at a time is
//! scanned once, not once per byte, and a 512 MiB bulk string costs one check per read
//! until it is complete. The caller keeps the bytes of an incomplete command at the
//! front of the buffer and appends to them (as [`net::BufStream`] does); it consumes a
//! command only once [`Parser::parse`] says it is complete.
//!
//! The limits and the error messages are Redis's (`networking.c`): a bulk length over
//! [`MAX_BULK_LEN`] or of an array over [`MAX_ARRAY_LEN`] elements is `Protocol error:
//! invalid bulk length` / `invalid multibulk length`, and a line that has no `\r\n` after
//! [`MAX_INLINE_LEN`] bytes is `too big inline request` (or `too big mbulk count string`,
//! `too big bulk count string` for the length lines). Unlike Redis, a negative array
//! length is refused rather than ignored, and a bulk string must end with `\r\n`.

use std::fmt;
use std::ops::Range;

/// The largest bulk string accepted (Redis's `proto-max-bulk-len`).
pub const MAX_BULK_LEN: usize = 512 * 1024 * 1024;

/// The most elements an array may have.
pub const MAX_ARRAY_LEN: usize = 1024 * 1024;

/// The longest line accepted without its `\r\n` (Redis's `PROTO_INLINE_MAX_SIZE`).
pub const MAX_INLINE_LEN: usize = 64 * 1024;

/// A request that breaks the protocol. The connection answers it with `-ERR` and the
/// message, then closes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProtocolError {
    /// An array length that is not a number in `0..=MAX_ARRAY_LEN`.
    InvalidMultibulkLength,
    /// A bulk length that is not a number in `0..=MAX_BULK_LEN`.
    InvalidBulkLength,
    /// An array element that is not a bulk string (`*` nested arrays included).
    ExpectedBulk(u8),
    /// Bulk data not followed by `\r\n`.
    MissingCrlf,
    /// An inline command longer than [`MAX_INLINE_LEN`].
    TooBigInline,
    /// An array length line longer than [`MAX_INLINE_LEN`].
    TooBigMultibulkCount,
    /// A bulk length line longer than [`MAX_INLINE_LEN`].
    TooBigBulkCount,
    /// An inline command with an unterminated quote.
    UnbalancedQuotes,
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Protocol error: ")?;
        match self {
            ProtocolError::InvalidMultibulkLength => f.write_str("invalid multibulk length"),
            ProtocolError::InvalidBulkLength => f.write_str("invalid bulk length"),
            ProtocolError::ExpectedBulk(got) => {
                write!(
                    f,
                    "expected '$', got '{}'",
                    char::from(*got).escape_default()
                )
            }
            ProtocolError::MissingCrlf => f.write_str("expected \\r\\n after bulk data"),
            ProtocolError::TooBigInline => f.write_str("too big inline request"),
            ProtocolError::TooBigMultibulkCount => f.write_str("too big mbulk count string"),
            ProtocolError::TooBigBulkCount => f.write_str("too big bulk count string"),
            ProtocolError::UnbalancedQuotes => f.write_str("unbalanced quotes in request"),
        }
    }
}

impl std::error::Error for ProtocolError {}

/// What [`Parser::parse`] found at the front of the buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A command of this many bytes; its arguments are [`Parser::args`].
    Command(usize),
    /// This many bytes that hold no command (an empty array, a blank inline line):
    /// consume them and answer nothing, as Redis does.
    Empty(usize),
    /// The command is not complete yet.
    Incomplete,
}

/// Where the parser stands in the command at the front of the buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// Nothing read of this command yet.
    Start,
    /// Reading the length line of the next bulk string; `left` elements to go.
    BulkLength { left: usize },
    /// Waiting for `len` bytes of bulk data and their `\r\n`.
    BulkData { left: usize, len: usize },
    /// An inline command: waiting for its `\n`.
    Inline,
}

/// A resumable parser of the command at the front of a buffer (see the module docs).
#[derive(Debug)]
pub struct Parser {
    stage: Stage,
    /// Where the next part of the command starts.
    pos: usize,
    /// Where to go on searching for the end of a line: the bytes before were scanned.
    scanned: usize,
    /// The arguments: ranges of the buffer, or of `inline` for an inline command.
    args: Vec<Range<usize>>,
    /// The unquoted arguments of an inline command.
    inline: Vec<u8>,
    is_inline: bool,
}

impl Default for Parser {
    fn default() -> Parser {
        Parser::new()
    }
}

/// The arguments of the command [`Parser::parse`] found, borrowed from the buffer.
#[derive(Clone, Copy, Debug)]
pub struct Args<'a> {
    bytes: &'a [u8],
    ranges: &'a [Range<usize>],
}

impl<'a> Args<'a> {
    /// How many arguments, the command name included.
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    /// Whether there are none (never, for a parsed command).
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Argument `i` (0 is the command name).
    ///
    /// # Panics
    ///
    /// If `i >= len()`.
    pub fn get(&self, i: usize) -> &'a [u8] {
        &self.bytes[self.ranges[i].clone()]
    }

    /// Every argument, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &'a [u8]> + 'a {
        let bytes = self.bytes;
        self.ranges.iter().map(move |r| &bytes[r.clone()])
    }
}

/// A line found by [`Parser::line`].
enum Line {
    /// The line's content ends at `cr`; the next part starts at `cr + 2`.
    Complete { cr: usize },
    /// Its `\r\n` has not arrived yet.
    Incomplete,
    /// A `\r` not followed by `\n`.
    Malformed,
}

impl Parser {
    /// A parser at the start of a command.
    pub fn new() -> Parser {
        Parser {
            stage: Stage::Start,
            pos: 0,
            scanned: 0,
            args: Vec::new(),
            inline: Vec::new(),
            is_inline: false,
        }
    }

    /// Parses the command at the front of `buf`, going on from where the last call
    /// stopped if that one found it incomplete. After [`Parsed::Command`] or
    /// [`Parsed::Empty`] the parser is ready for the next command, which starts after
    /// the bytes it reported. After an error it must not be used again.
    pub fn parse(&mut self, buf: &[u8]) -> Result<Parsed, ProtocolError> {
        if self.stage == Stage::Start
            && let Some(n) = self.parse_whole(buf)
        {
            return Ok(Parsed::Command(n));
        }
        self.parse_resumable(buf)
    }

    /// The common case in one pass, with no state kept: a whole, well-formed array of
    /// bulk strings at the front of `buf`. `None` for anything else (an incomplete or a
    /// malformed command, an inline one): [`parse_resumable`](Parser::parse_resumable)
    /// then takes it from the start, and says exactly what is wrong.
    #[inline]
    fn parse_whole(&mut self, buf: &[u8]) -> Option<usize> {
        let (count, mut pos) = small_number(buf, 0, b'*')?;
        if count == 0 || count > MAX_ARRAY_LEN {
            return None;
        }
        self.args.clear();
        for _ in 0..count {
            let (len, start) = small_number(buf, pos, b'$')?;
            let end = start + len;
            if len > MAX_BULK_LEN || buf.get(end..end + 2)? != b"\r\n" {
                return None;
            }
            self.args.push(start..end);
            pos = end + 2;
        }
        self.is_inline = false;
        // An earlier call may have scanned part of this command's first line and found
        // it incomplete; that mark belongs to this command, not to the next one.
        self.scanned = 0;
        Some(pos)
    }

    /// The resumable parser: goes on from where the last call stopped.
    fn parse_resumable(&mut self, buf: &[u8]) -> Result<Parsed, ProtocolError> {
        loop {
            match self.stage {
                Stage::Start => {
                    let Some(&first) = buf.first() else {
                        return Ok(Parsed::Incomplete);
                    };
                    self.args.clear();
                    self.is_inline = first != b'*';
                    if self.is_inline {
                        self.inline.clear();
                        self.stage = Stage::Inline;
                        continue;
                    }
                    let cr = match self.line(buf, 1, ProtocolError::TooBigMultibulkCount)? {
                        Line::Complete { cr } => cr,
                        Line::Incomplete => return Ok(Parsed::Incomplete),
                        Line::Malformed => return Err(ProtocolError::InvalidMultibulkLength),
                    };
                    let count = parse_len(&buf[1..cr], MAX_ARRAY_LEN)
                        .ok_or(ProtocolError::InvalidMultibulkLength)?;
                    if count == 0 {
                        return Ok(self.finish(Parsed::Empty(cr + 2)));
                    }
                    self.args.reserve(count.min(1024));
                    self.pos = cr + 2;
                    self.stage = Stage::BulkLength { left: count };
                }
                Stage::BulkLength { left } => {
                    let Some(&kind) = buf.get(self.pos) else {
                        return Ok(Parsed::Incomplete);
                    };
                    if kind != b'$' {
                        return Err(ProtocolError::ExpectedBulk(kind));
                    }
                    let cr = match self.line(buf, self.pos + 1, ProtocolError::TooBigBulkCount)? {
                        Line::Complete { cr } => cr,
                        Line::Incomplete => return Ok(Parsed::Incomplete),
                        Line::Malformed => return Err(ProtocolError::InvalidBulkLength),
                    };
                    let len = parse_len(&buf[self.pos + 1..cr], MAX_BULK_LEN)
                        .ok_or(ProtocolError::InvalidBulkLength)?;
                    self.pos = cr + 2;
                    self.stage = Stage::BulkData { left, len };
                }
                Stage::BulkData { left, len } => {
                    let end = self.pos + len;
                    if buf.len() < end + 2 {
                        return Ok(Parsed::Incomplete);
                    }
                    if &buf[end..end + 2] != b"\r\n" {
                        return Err(ProtocolError::MissingCrlf);
                    }
                    self.args.push(self.pos..end);
                    self.pos = end + 2;
                    if left == 1 {
                        let n = self.pos;
                        return Ok(self.finish(Parsed::Command(n)));
                    }
                    self.stage = Stage::BulkLength { left: left - 1 };
                }
                Stage::Inline => return self.parse_inline(buf),
            }
        }
    }

    /// The arguments of the command the last [`parse`](Parser::parse) returned, from the
    /// same `buf`.
    pub fn args<'a>(&'a self, buf: &'a [u8]) -> Args<'a> {
        Args {
            bytes: if self.is_inline { &self.inline } else { buf },
            ranges: &self.args,
        }
    }

    /// Resets for the next command and returns `parsed`.
    fn finish(&mut self, parsed: Parsed) -> Parsed {
        self.stage = Stage::Start;
        self.pos = 0;
        self.scanned = 0;
        parsed
    }

    /// Finds the `\r\n` that ends the line starting at `start`, scanning only bytes not
    /// scanned before; a line longer than [`MAX_INLINE_LEN`] is `too_big`.
    fn line(
        &mut self,
        buf: &[u8],
        start: usize,
        too_big: ProtocolError,
    ) -> Result<Line, ProtocolError> {
        let from = self.scanned.max(start);
        match buf
            .get(from..)
            .and_then(|rest| rest.iter().position(|&b| b == b'\r'))
        {
            None => {
                self.scanned = buf.len().max(start);
                if buf.len().saturating_sub(start) > MAX_INLINE_LEN {
                    return Err(too_big);
                }
                Ok(Line::Incomplete)
            }
            Some(i) => {
                let cr = from + i;
                self.scanned = cr;
                match buf.get(cr + 1) {
                    None => Ok(Line::Incomplete),
                    Some(b'\n') => {
                        self.scanned = 0;
                        Ok(Line::Complete { cr })
                    }
                    Some(_) => Ok(Line::Malformed),
                }
            }
        }
    }

    /// An inline command: one line, split as Redis's `sdssplitargs` splits it.
    fn parse_inline(&mut self, buf: &[u8]) -> Result<Parsed, ProtocolError> {
        let from = self.scanned;
        let Some(i) = buf[from..].iter().position(|&b| b == b'\n') else {
            self.scanned = buf.len();
            if buf.len() > MAX_INLINE_LEN {
                return Err(ProtocolError::TooBigInline);
            }
            return Ok(Parsed::Incomplete);
        };
        let newline = from + i;
        let line = &buf[..newline];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        split_args(line, &mut self.inline, &mut self.args)?;
        let n = newline + 1;
        if self.args.is_empty() {
            Ok(self.finish(Parsed::Empty(n)))
        } else {
            Ok(self.finish(Parsed::Command(n)))
        }
    }
}

/// `prefix`, a length and `\r\n` at `pos`: the length and where what follows starts.
/// `None` unless the length is plain digits (no sign, no leading zero, at most 18), so
/// that any unusual line goes to the resumable parser and its exact errors.
#[inline(always)]
fn small_number(buf: &[u8], pos: usize, prefix: u8) -> Option<(usize, usize)> {
    if buf.get(pos) != Some(&prefix) {
        return None;
    }
    let mut i = pos + 1;
    let first = *buf.get(i)?;
    if !first.is_ascii_digit() {
        return None;
    }
    let mut n = usize::from(first - b'0');
    i += 1;
    loop {
        let d = *buf.get(i)?;
        if d == b'\r' {
            break;
        }
        if !d.is_ascii_digit() || n == 0 || i - pos > 18 {
            return None;
        }
        n = n * 10 + usize::from(d - b'0');
        i += 1;
    }
    if buf.get(i + 1) != Some(&b'\n') {
        return None;
    }
    Some((n, i + 2))
}

/// Parses a length as Redis's `string2ll` does (no sign, no leading zeros, no spaces),
/// and accepts it if it is at most `max`.
fn parse_len(digits: &[u8], max: usize) -> Option<usize> {
    let n = parse_i64(digits)?;
    usize::try_from(n).ok().filter(|&n| n <= max)
}

/// A signed decimal integer as Redis's `string2ll` reads it: an optional `-`, then
/// digits with no leading zero (except `0` itself), no `+`, no spaces, within `i64`.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    let (negative, digits) = match s {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, s),
    };
    match digits {
        [] => return None,
        [b'0'] if !negative => return Some(0),
        [b'1'..=b'9', ..] => {}
        _ => return None,
    }
    let mut value: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    if negative {
        0i64.checked_sub_unsigned(value)
    } else {
        i64::try_from(value).ok()
    }
}

/// Splits an inline command line into arguments the way Redis's `sdssplitargs` does:
/// blanks separate arguments; `"..."` takes escapes (`\n`, `\r`, `\t`, `\b`, `\a`,
/// `\xHH`, and `\` before any other byte), `'...'` only `\'`; a closing quote must be
/// followed by a blank or the end of the line.
fn split_args(
    line: &[u8],
    out: &mut Vec<u8>,
    args: &mut Vec<Range<usize>>,
) -> Result<(), ProtocolError> {
    let mut i = 0;
    loop {
        while i < line.len() && is_space(line[i]) {
            i += 1;
        }
        if i == line.len() {
            return Ok(());
        }
        let start = out.len();
        // 0: unquoted, b'"' or b'\'': inside that quote.
        let mut quote = 0u8;
        loop {
            let Some(&c) = line.get(i) else {
                if quote != 0 {
                    return Err(ProtocolError::UnbalancedQuotes);
                }
                break;
            };
            match quote {
                b'"' => {
                    if c == b'\\' && line.get(i + 1) == Some(&b'x') {
                        let hex = |k: usize| line.get(k).and_then(|&b| (b as char).to_digit(16));
                        if let (Some(h), Some(l)) = (hex(i + 2), hex(i + 3)) {
                            out.push((h * 16 + l) as u8);
                            i += 4;
                            continue;
                        }
                    }
                    if c == b'\\' && i + 1 < line.len() {
                        out.push(match line[i + 1] {
                            b'n' => b'\n',
                            b'r' => b'\r',
                            b't' => b'\t',
                            b'b' => 0x08,
                            b'a' => 0x07,
                            other => other,
                        });
                        i += 2;
                        continue;
                    }
                    if c == b'"' {
                        if line.get(i + 1).is_some_and(|&n| !is_space(n)) {
                            return Err(ProtocolError::UnbalancedQuotes);
                        }
                        i += 1;
                        break;
                    }
                    out.push(c);
                }
                b'\'' => {
                    if c == b'\\' && line.get(i + 1) == Some(&b'\'') {
                        out.push(b'\'');
                        i += 2;
                        continue;
                    }
                    if c == b'\'' {
                        if line.get(i + 1).is_some_and(|&n| !is_space(n)) {
                            return Err(ProtocolError::UnbalancedQuotes);
                        }
                        i += 1;
                        break;
                    }
                    out.push(c);
                }
                _ => {
                    if is_space(c) {
                        break;
                    }
                    if c == b'"' || c == b'\'' {
                        quote = c;
                    } else {
                        out.push(c);
                    }
                }
            }
            i += 1;
        }
        args.push(start..out.len());
    }
}

/// C's `isspace`.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

#[cfg(test)]
#[path = "resp_tests.rs"]
mod tests;
