//! A Redis-protocol (RESP2) key-value server: the store, the parser, the command table
//! and the connection loop of the `kv_server` example.
//!
//! The pieces are runtime-neutral but the last: [`Store`] holds the keys, [`Parser`]
//! reads commands from the front of a buffer, and [`execute`] runs one and appends its
//! reply to an output buffer. [`serve_connection`] is the evloop connection loop over
//! a [`net::BufStream`], and [`active_expiry`] the periodic task that reclaims expired
//! keys.
//!
//! # Commands
//!
//! `PING [msg]`, `ECHO msg`, `GET key`, `SET key value [NX|XX] [GET] [EX s|PX ms|EXAT t|PXAT
//! t|KEEPTTL]`, `DEL key...`, `EXISTS key...`, `INCR key`, `DECR key`, `INCRBY key n`,
//! `MGET key...`, `MSET key value...`, `EXPIRE key s [NX|XX|GT|LT]`, `PEXPIRE key ms
//! [...]`, `TTL key`, `PTTL key`, `PERSIST key`, `DBSIZE`, `FLUSHALL [ASYNC|SYNC]` (and
//! `FLUSHDB`), `QUIT`, and `CONFIG GET` and `COMMAND`, which answer an empty array (what
//! `redis-benchmark` and `redis-cli` ask at start). Names are case-insensitive. Errors
//! are worded as Redis words them: `ERR unknown command ...`, `ERR wrong number of
//! arguments for '...' command`, `ERR value is not an integer or out of range`,
//! `ERR syntax error`.
//!
//! Inline commands (`PING\r\n`, as typed into telnet) work, with Redis's quoting.
//!
//! # Limits
//!
//! A bulk string over 512 MiB, an array of over 1M elements, a line of over 64 KiB
//! without `\r\n`, or any other malformed frame is a protocol error: the client gets
//! `-ERR Protocol error: ...` and that connection is closed; the others go on.
//!
//! ```
//! use evloop::kv::{Now, Parsed, Parser, Store, execute};
//!
//! let mut store = Store::new();
//! let wire = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\nGET k\r\n";
//! let mut parser = Parser::new();
//! let (mut at, mut out) = (0, Vec::new());
//! while let Ok(Parsed::Command(n)) = parser.parse(&wire[at..]) {
//!     execute(&mut store, parser.args(&wire[at..]), &mut Now::lazy(), &mut out);
//!     at += n;
//! }
//! assert_eq!(out, b"+OK\r\n$1\r\nv\r\n");
//! ```

pub mod command;
pub mod conn;
pub mod reply;
pub mod resp;
pub mod store;

pub use command::{Flow, execute, names as command_names};
pub use conn::{
    EXPIRE_PERIOD, LINGER, QUERY_BUFFER_LIMIT, READ_CAPACITY, active_expiry, serve_connection,
};
pub use resp::{
    Args, MAX_ARRAY_LEN, MAX_BULK_LEN, MAX_INLINE_LEN, Parsed, Parser, ProtocolError, parse_i64,
};
pub use store::{CycleStats, ExpirePolicy, Expiry, Now, Store};
