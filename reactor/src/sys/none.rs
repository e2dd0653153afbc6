//! The completion side where this build has none (no io_uring): types with no values.
//! The facade names them as it names io_uring's; since no value exists, a
//! `Completion` is never handed out and every method below is unreachable.

use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use crate::Readiness;
use crate::event::Event;
use crate::slab::{Direction, Slot};
use crate::source::{RawSocketAddr, RawSource};
use crate::stats::UringStats;

/// No driver.
#[derive(Clone)]
pub(crate) enum Ring {}

/// No completion socket.
pub(crate) enum CompletionSocket {}

/// No datagram send in flight.
pub(crate) enum SendOp {}

impl Ring {
    pub(crate) fn socket(&self, _: RawSource, _: Rc<Slot>) -> CompletionSocket {
        match *self {}
    }
    pub(crate) fn is_closed(&self) -> bool {
        match *self {}
    }
    pub(crate) fn retire(&self, _: &CompletionSocket) {
        match *self {}
    }
    pub(crate) fn quiesce(
        &self,
        _: &CompletionSocket,
        _: Duration,
        _: &mut Vec<Event>,
        _: &mut Vec<Waker>,
    ) -> io::Result<bool> {
        match *self {}
    }
    pub(crate) fn wake_completed(&self) {
        match *self {}
    }
    pub(crate) fn stats(&self) -> UringStats {
        match *self {}
    }
}

impl CompletionSocket {
    pub(crate) fn poll_recv(
        &self,
        _: &Ring,
        _: &mut Context<'_>,
        _: &mut [u8],
        _: bool,
    ) -> Poll<io::Result<usize>> {
        match *self {}
    }
    pub(crate) fn poll_recv_uninit(
        &self,
        _: &Ring,
        _: &mut Context<'_>,
        _: &mut [MaybeUninit<u8>],
    ) -> Poll<io::Result<usize>> {
        match *self {}
    }
    pub(crate) fn poll_send(
        &self,
        _: &Ring,
        _: &mut Context<'_>,
        _: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match *self {}
    }
    pub(crate) fn poll_flush(&self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        match *self {}
    }
    pub(crate) fn shutdown(&self, _: std::net::Shutdown) -> io::Result<()> {
        match *self {}
    }
    pub(crate) fn poll_accept(&self, _: &Ring, _: &mut Context<'_>) -> Poll<io::Result<OwnedFd>> {
        match *self {}
    }
    pub(crate) fn poll_connect(
        &self,
        _: &Ring,
        _: &mut Context<'_>,
        _: &RawSocketAddr,
    ) -> Poll<io::Result<()>> {
        match *self {}
    }
    pub(crate) fn poll_recv_from(
        &self,
        _: &Ring,
        _: &mut Context<'_>,
        _: &mut [u8],
        _: bool,
    ) -> Poll<io::Result<(usize, RawSocketAddr)>> {
        match *self {}
    }
    pub(crate) fn poll_send_to(
        &self,
        _: &Ring,
        _: &mut Context<'_>,
        _: &[u8],
        _: Option<&RawSocketAddr>,
        _: &mut Option<SendOp>,
    ) -> Poll<io::Result<usize>> {
        match *self {}
    }
    pub(crate) fn poll_ready(
        &self,
        _: &Ring,
        _: Direction,
        _: &mut Context<'_>,
    ) -> Poll<io::Result<Readiness>> {
        match *self {}
    }
    pub(crate) fn undelivered(&self) -> Option<String> {
        match *self {}
    }
}
