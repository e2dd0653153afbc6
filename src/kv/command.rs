//! The command table: each command's name, arity and implementation, with Redis's
//! replies and error messages.

use super::reply::{self, NIL, OK};
use super::resp::{Args, parse_i64};
use super::store::{Expiry, Now, Store};

/// What the connection does after a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Go on with the next command.
    Continue,
    /// Send what is queued and close (`QUIT`).
    Close,
}

const ERR_SYNTAX: &[u8] = b"ERR syntax error";
const ERR_NOT_INTEGER: &[u8] = b"ERR value is not an integer or out of range";
const ERR_OVERFLOW: &[u8] = b"ERR increment or decrement would overflow";

/// One command's context: the store, its arguments, the batch's time and the output.
struct Call<'a, 'b> {
    store: &'a mut Store,
    args: Args<'b>,
    now: &'a mut Now,
    out: &'a mut Vec<u8>,
}

impl Call<'_, '_> {
    fn arg(&self, i: usize) -> &[u8] {
        self.args.get(i)
    }

    fn error(&mut self, message: &[u8]) {
        reply::error(self.out, message);
    }
}

/// A command: its lowercase name (and the name folded, see [`fold`]), its arity as Redis
/// writes it (`n`: exactly `n` arguments with the name; `-n`: at least `n`), and what it
/// does.
struct Command {
    name: &'static str,
    folded: u64,
    arity: i32,
    run: fn(&mut Call<'_, '_>) -> Flow,
}

impl Command {
    const fn new(name: &'static str, arity: i32, run: fn(&mut Call<'_, '_>) -> Flow) -> Command {
        Command {
            name,
            folded: fold(name.as_bytes()),
            arity,
            run,
        }
    }
}

/// Every command; the most frequent first, as the lookup goes in order. A `static`, not
/// a `const`: a `const` array would be copied onto the stack at each lookup.
#[rustfmt::skip]
static COMMANDS: [Command; 22] = [
    Command::new("get", 2, get),
    Command::new("set", -3, set),
    Command::new("ping", -1, ping),
    Command::new("incr", 2, |c| incr_by(c, 1)),
    Command::new("decr", 2, |c| incr_by(c, -1)),
    Command::new("incrby", 3, incrby),
    Command::new("mget", -2, mget),
    Command::new("mset", -3, mset),
    Command::new("del", -2, del),
    Command::new("exists", -2, exists),
    Command::new("expire", -3, |c| expire(c, 1000)),
    Command::new("pexpire", -3, |c| expire(c, 1)),
    Command::new("ttl", 2, |c| ttl(c, 1000)),
    Command::new("pttl", 2, |c| ttl(c, 1)),
    Command::new("persist", 2, persist),
    Command::new("echo", 2, echo),
    Command::new("dbsize", 1, dbsize),
    Command::new("flushall", -1, flushall),
    Command::new("flushdb", -1, flushall),
    Command::new("config", -2, config),
    Command::new("quit", -1, quit),
    Command::new("command", -1, command),
];

/// The names of every command, for documentation and tests.
pub fn names() -> impl Iterator<Item = &'static str> {
    COMMANDS.iter().map(|c| c.name)
}

/// Runs the command `args` (name first) against `store` at `now`, appending its reply
/// to `out`.
pub fn execute(store: &mut Store, args: Args<'_>, now: &mut Now, out: &mut Vec<u8>) -> Flow {
    let name = args.get(0);
    let Some(command) = lookup(name) else {
        unknown_command(args, out);
        return Flow::Continue;
    };
    let argc = args.len() as i64;
    let arity = i64::from(command.arity);
    if (arity > 0 && argc != arity) || argc < -arity {
        wrong_arity(command.name, out);
        return Flow::Continue;
    }
    (command.run)(&mut Call {
        store,
        args,
        now,
        out,
    })
}

/// The command called `name`, in any case: its name folded into a word, compared with
/// each command's.
fn lookup(name: &[u8]) -> Option<&'static Command> {
    if name.len() > 8 {
        return None;
    }
    let folded = fold(name);
    COMMANDS
        .iter()
        .find(|c| c.folded == folded && c.name.len() == name.len())
}

/// The first 8 bytes of a name as one word, each with its case bit (0x20) set. For
/// names of letters only (as every command's is) and of the same length, two names fold
/// alike exactly when they are equal but for case: the only bytes that fold to a
/// lowercase letter are that letter and its capital.
const fn fold(name: &[u8]) -> u64 {
    let mut word = 0;
    let mut i = 0;
    while i < name.len() && i < 8 {
        word |= ((name[i] | 0x20) as u64) << (8 * i);
        i += 1;
    }
    word
}

/// `ERR unknown command 'name', with args beginning with: 'a' 'b' `, cut as Redis cuts it.
fn unknown_command(args: Args<'_>, out: &mut Vec<u8>) {
    let mut msg = b"ERR unknown command '".to_vec();
    let name = args.get(0);
    msg.extend_from_slice(&name[..name.len().min(128)]);
    msg.extend_from_slice(b"', with args beginning with: ");
    let mut listed = Vec::new();
    for arg in args.iter().skip(1) {
        if listed.len() >= 128 {
            break;
        }
        let room = 128 - listed.len();
        listed.push(b'\'');
        listed.extend_from_slice(&arg[..arg.len().min(room)]);
        listed.extend_from_slice(b"' ");
    }
    msg.extend_from_slice(&listed);
    reply::error(out, &msg);
}

fn wrong_arity(name: &str, out: &mut Vec<u8>) {
    let msg = format!("ERR wrong number of arguments for '{name}' command");
    reply::error(out, msg.as_bytes());
}

fn is(arg: &[u8], word: &str) -> bool {
    arg.eq_ignore_ascii_case(word.as_bytes())
}

fn get(c: &mut Call<'_, '_>) -> Flow {
    let key = c.args.get(1);
    let out = &mut *c.out;
    if c.store
        .with_value(key, c.now, |v| reply::bulk(out, v))
        .is_none()
    {
        out.extend_from_slice(NIL);
    }
    Flow::Continue
}

/// `SET key value [NX | XX] [GET] [EX s | PX ms | EXAT unix-s | PXAT unix-ms | KEEPTTL]`.
fn set(c: &mut Call<'_, '_>) -> Flow {
    let (mut nx, mut xx, mut get, mut keep) = (false, false, false, false);
    // (milliseconds per unit, absolute, the argument)
    let mut expire: Option<(i64, bool, &[u8])> = None;
    let mut i = 3;
    while i < c.args.len() {
        let a = c.arg(i);
        let next = (i + 1 < c.args.len()).then(|| c.args.get(i + 1));
        let unit = [
            ("ex", 1000, false),
            ("px", 1, false),
            ("exat", 1000, true),
            ("pxat", 1, true),
        ]
        .into_iter()
        .find(|(w, ..)| is(a, w));
        if is(a, "nx") && !xx {
            nx = true;
        } else if is(a, "xx") && !nx {
            xx = true;
        } else if is(a, "get") {
            get = true;
        } else if is(a, "keepttl") && expire.is_none() {
            keep = true;
        } else if let (Some((_, ms, absolute)), Some(value), None, false) =
            (unit, next, expire, keep)
        {
            expire = Some((ms, absolute, value));
            i += 1;
        } else {
            c.error(ERR_SYNTAX);
            return Flow::Continue;
        }
        i += 1;
    }
    // A deadline already past (`EXAT` in the past) removes the key, as in Redis.
    let mut already_past = false;
    let expiry = match expire {
        None if keep => Expiry::Keep,
        None => Expiry::Never,
        Some((unit, absolute, value)) => {
            let Some(n) = parse_i64(value) else {
                c.error(ERR_NOT_INTEGER);
                return Flow::Continue;
            };
            match deadline(c, n, unit, absolute) {
                Some(Deadline::At(ms)) if n > 0 => Expiry::At(ms),
                Some(Deadline::Past) if n > 0 => {
                    already_past = true;
                    Expiry::Never
                }
                _ => {
                    c.error(b"ERR invalid expire time in 'set' command");
                    return Flow::Continue;
                }
            }
        }
    };
    let key = c.args.get(1);
    if get {
        let out = &mut *c.out;
        if c.store
            .with_value(key, c.now, |v| reply::bulk(out, v))
            .is_none()
        {
            out.extend_from_slice(NIL);
        }
    }
    if nx || xx {
        let found = c.store.contains(key, c.now);
        if (nx && found) || (xx && !found) {
            if !get {
                c.out.extend_from_slice(NIL);
            }
            return Flow::Continue;
        }
    }
    if already_past {
        c.store.remove(key, c.now);
    } else {
        c.store.set(key, c.args.get(2), expiry);
    }
    if !get {
        c.out.extend_from_slice(OK);
    }
    Flow::Continue
}

/// A deadline in the store's milliseconds.
enum Deadline {
    At(u64),
    /// At or before now.
    Past,
}

/// The deadline `n` units (of `unit` ms) from now, or at `n` units since the Unix epoch
/// if `absolute`; `None` when it overflows.
fn deadline(c: &mut Call<'_, '_>, n: i64, unit: i64, absolute: bool) -> Option<Deadline> {
    let ms = n.checked_mul(unit)?;
    let now = i64::try_from(c.store.millis(c.now)).ok()?;
    let from_now = if absolute {
        let unix_now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        ms.checked_sub(unix_now)?
    } else {
        ms
    };
    let at = now.checked_add(from_now)?;
    Some(if at <= now {
        Deadline::Past
    } else {
        Deadline::At(at as u64)
    })
}

fn ping(c: &mut Call<'_, '_>) -> Flow {
    match c.args.len() {
        1 => reply::simple(c.out, "PONG"),
        2 => reply::bulk(c.out, c.args.get(1)),
        _ => wrong_arity("ping", c.out),
    }
    Flow::Continue
}

fn echo(c: &mut Call<'_, '_>) -> Flow {
    reply::bulk(c.out, c.args.get(1));
    Flow::Continue
}

fn incrby(c: &mut Call<'_, '_>) -> Flow {
    match parse_i64(c.arg(2)) {
        Some(delta) => incr_by(c, delta),
        None => {
            c.error(ERR_NOT_INTEGER);
            Flow::Continue
        }
    }
}

/// Adds `delta` to the integer at the key (0 if there is none), keeping its deadline.
fn incr_by(c: &mut Call<'_, '_>, delta: i64) -> Flow {
    let key = c.args.get(1);
    let result = c.store.with_value(key, c.now, |v| {
        let n = parse_i64(v).ok_or(ERR_NOT_INTEGER)?;
        let n = n.checked_add(delta).ok_or(ERR_OVERFLOW)?;
        v.clear();
        reply::push_decimal(v, n);
        Ok(n)
    });
    match result {
        Some(Ok(n)) => reply::integer(c.out, n),
        Some(Err(e)) => c.error(e),
        None => {
            let mut v = Vec::new();
            reply::push_decimal(&mut v, delta);
            c.store.set(key, &v, Expiry::Never);
            reply::integer(c.out, delta);
        }
    }
    Flow::Continue
}

fn mget(c: &mut Call<'_, '_>) -> Flow {
    reply::array(c.out, c.args.len() - 1);
    for key in c.args.iter().skip(1) {
        let out = &mut *c.out;
        if c.store
            .with_value(key, c.now, |v| reply::bulk(out, v))
            .is_none()
        {
            out.extend_from_slice(NIL);
        }
    }
    Flow::Continue
}

fn mset(c: &mut Call<'_, '_>) -> Flow {
    if c.args.len() % 2 == 0 {
        wrong_arity("mset", c.out);
        return Flow::Continue;
    }
    for i in (1..c.args.len()).step_by(2) {
        c.store.set(c.args.get(i), c.args.get(i + 1), Expiry::Never);
    }
    c.out.extend_from_slice(OK);
    Flow::Continue
}

fn del(c: &mut Call<'_, '_>) -> Flow {
    let removed = c
        .args
        .iter()
        .skip(1)
        .filter(|k| c.store.remove(k, c.now))
        .count();
    reply::integer(c.out, removed as i64);
    Flow::Continue
}

fn exists(c: &mut Call<'_, '_>) -> Flow {
    let found = c
        .args
        .iter()
        .skip(1)
        .filter(|k| c.store.contains(k, c.now))
        .count();
    reply::integer(c.out, found as i64);
    Flow::Continue
}

/// `EXPIRE key seconds [NX | XX | GT | LT]`, and `PEXPIRE` with milliseconds.
fn expire(c: &mut Call<'_, '_>, unit: i64) -> Flow {
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for a in c.args.iter().skip(3) {
        match () {
            () if is(a, "nx") => nx = true,
            () if is(a, "xx") => xx = true,
            () if is(a, "gt") => gt = true,
            () if is(a, "lt") => lt = true,
            () => {
                let mut msg = b"ERR Unsupported option ".to_vec();
                msg.extend_from_slice(a);
                c.error(&msg);
                return Flow::Continue;
            }
        }
    }
    if nx && (xx || gt || lt) {
        c.error(b"ERR NX and XX, GT or LT options at the same time are not compatible");
        return Flow::Continue;
    }
    if gt && lt {
        c.error(b"ERR GT and LT options at the same time are not compatible");
        return Flow::Continue;
    }
    let Some(n) = parse_i64(c.arg(2)) else {
        c.error(ERR_NOT_INTEGER);
        return Flow::Continue;
    };
    let Some(at) = deadline(c, n, unit, false) else {
        let name = if unit == 1 { "pexpire" } else { "expire" };
        let msg = format!("ERR invalid expire time in '{name}' command");
        c.error(msg.as_bytes());
        return Flow::Continue;
    };
    let key = c.args.get(1);
    let Some(current) = c.store.deadline(key, c.now) else {
        reply::integer(c.out, 0);
        return Flow::Continue;
    };
    let new = match at {
        Deadline::At(ms) => ms,
        Deadline::Past => 0,
    };
    // No deadline counts as infinitely far.
    let refused = (nx && current.is_some())
        || (xx && current.is_none())
        || (gt && current.is_none_or(|d| new <= d))
        || (lt && current.is_some_and(|d| new >= d));
    if refused {
        reply::integer(c.out, 0);
        return Flow::Continue;
    }
    match at {
        Deadline::Past => {
            c.store.remove(key, c.now);
        }
        Deadline::At(ms) => {
            c.store.set_deadline(key, Some(ms), c.now);
        }
    }
    reply::integer(c.out, 1);
    Flow::Continue
}

/// `TTL` (seconds, rounded) and `PTTL` (milliseconds): -2 for no key, -1 for no deadline.
fn ttl(c: &mut Call<'_, '_>, unit: u64) -> Flow {
    let key = c.args.get(1);
    let n = match c.store.deadline(key, c.now) {
        None => -2,
        Some(None) => -1,
        Some(Some(at)) => {
            let left = at.saturating_sub(c.store.millis(c.now));
            ((left + unit / 2) / unit) as i64
        }
    };
    reply::integer(c.out, n);
    Flow::Continue
}

fn persist(c: &mut Call<'_, '_>) -> Flow {
    let key = c.args.get(1);
    let had = matches!(c.store.deadline(key, c.now), Some(Some(_)));
    if had {
        c.store.set_deadline(key, None, c.now);
    }
    reply::integer(c.out, i64::from(had));
    Flow::Continue
}

fn dbsize(c: &mut Call<'_, '_>) -> Flow {
    reply::integer(c.out, c.store.len() as i64);
    Flow::Continue
}

/// `FLUSHALL [ASYNC | SYNC]` (and `FLUSHDB`: there is one database).
fn flushall(c: &mut Call<'_, '_>) -> Flow {
    let ok = match c.args.len() {
        1 => true,
        2 => is(c.arg(1), "async") || is(c.arg(1), "sync"),
        _ => false,
    };
    if ok {
        c.store.clear();
        c.out.extend_from_slice(OK);
    } else {
        c.error(ERR_SYNTAX);
    }
    Flow::Continue
}

/// `CONFIG GET pattern...` answers an empty array: there are no parameters to read.
fn config(c: &mut Call<'_, '_>) -> Flow {
    let sub = c.args.get(1);
    if is(sub, "get") {
        if c.args.len() < 3 {
            wrong_arity("config|get", c.out);
        } else {
            reply::array(c.out, 0);
        }
    } else {
        let mut msg = b"ERR unknown subcommand '".to_vec();
        msg.extend_from_slice(&sub[..sub.len().min(128)]);
        msg.extend_from_slice(b"'. Try CONFIG HELP.");
        c.error(&msg);
    }
    Flow::Continue
}

/// `COMMAND ...` (which `redis-cli` asks at start) answers an empty array.
fn command(c: &mut Call<'_, '_>) -> Flow {
    reply::array(c.out, 0);
    Flow::Continue
}

fn quit(c: &mut Call<'_, '_>) -> Flow {
    c.out.extend_from_slice(OK);
    Flow::Close
}

#[cfg(test)]
#[path = "command_tests.rs"]
mod tests;
