//! Frontend frames checked before pgwire decodes them, and the connection loop
//! that puts the check in place.
//!
//! Why our own: pgwire 0.41 decodes `Parse`, `Bind`, `Execute`, `Close` and
//! `CopyData` bodies without bounds checks, so a malformed frame panics the
//! session's task (found by `tests/it/fuzz.rs`: lengths under 4, parameter
//! counts past the end of the frame). The panic ends only that session, but
//! no input may panic the server. [`FrameGuard`] sits between the socket and
//! pgwire's codec and lets through only frames whose length and structure
//! are what the protocol says; anything else ends the connection with FATAL
//! 08P01, as PostgreSQL does on a protocol violation. [`serve_connection`] is
//! pgwire's `process_socket` with the guard inserted after TLS negotiation.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use futures::{SinkExt, StreamExt};
use pgwire::api::{ClientInfo, ErrorHandler, PgWireConnectionState, PgWireServerHandlers};
use pgwire::messages::response::TransactionStatus;
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use pgwire::tokio::TlsAcceptor;
use pgwire::tokio::server::{negotiate_tls, process_error, process_message};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_util::codec::{Framed, FramedParts};
use tokio_util::io::poll_read_buf;

use crate::error::SqlState;

/// PostgreSQL's own limit for a startup packet.
const MAX_STARTUP: usize = 10_000;
/// The largest frame a client that has not logged in may send (a password
/// or SCRAM message is a few hundred bytes). Without it a stranger could make
/// the server buffer 256 MiB per socket before giving any password.
const MAX_LOGIN_FRAME: usize = 10_000;
/// The largest frame accepted (a query text, a bound value, a COPY chunk).
pub const MAX_FRAME: usize = 256 * 1024 * 1024;
/// Bytes asked of the socket at a time.
const READ_CHUNK: usize = 8192;
/// A client that has not finished logging in by then is dropped (short: each
/// one holds one of the few places for connections logging in).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the next frame stands in the buffered bytes.
#[derive(Debug, PartialEq, Eq)]
enum Frame {
    /// A whole, well-formed frame of this many bytes.
    Complete(usize),
    /// More bytes are needed.
    Incomplete,
    /// Not a frame a client may send; the reason.
    Invalid(String),
    /// A well-formed Bind of this many bytes with more parameters than
    /// pgwire can count (it reads the Int16 count signed).
    TooManyParameters(usize),
}

/// The statement name a Bind with more than 32,767 parameters is sent to
/// pgwire under instead: no statement has it, so the client gets an ERROR
/// naming the limit and its session goes on after Sync, as for any failed
/// Bind, where the real frame would have been misread.
pub const TOO_MANY_PARAMETERS: &str =
    "(a Bind with more than 32767 parameters, the most Brook accepts)";

/// A Bind of the unnamed portal to [`TOO_MANY_PARAMETERS`], without values.
fn refused_bind() -> BytesMut {
    let mut body = vec![0u8];
    body.extend_from_slice(TOO_MANY_PARAMETERS.as_bytes());
    body.push(0);
    body.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    let mut frame = BytesMut::with_capacity(body.len() + 5);
    frame.extend_from_slice(b"B");
    frame.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
    frame.extend_from_slice(&body);
    frame
}

/// The parameter and format counts of a well-formed Bind body.
fn bind_counts(body: &[u8]) -> Option<(usize, usize)> {
    let mut b = Body(body);
    b.cstring()?;
    b.cstring()?;
    let formats = b.count()?;
    b.bytes(formats.checked_mul(2)?)?;
    Some((formats, b.count()?))
}

/// Reads a frame body field by field, failing when a field does not fit.
struct Body<'a>(&'a [u8]);

impl Body<'_> {
    fn cstring(&mut self) -> Option<()> {
        let end = self.0.iter().position(|b| *b == 0)?;
        self.0 = &self.0[end + 1..];
        Some(())
    }

    fn bytes(&mut self, n: usize) -> Option<()> {
        self.0 = self.0.get(n..)?;
        Some(())
    }

    fn i16(&mut self) -> Option<i16> {
        let v = i16::from_be_bytes(self.0.get(..2)?.try_into().ok()?);
        self.0 = &self.0[2..];
        Some(v)
    }

    fn i32(&mut self) -> Option<i32> {
        let v = i32::from_be_bytes(self.0.get(..4)?.try_into().ok()?);
        self.0 = &self.0[4..];
        Some(v)
    }

    /// A count of the protocol's Int16 fields, read unsigned as PostgreSQL
    /// reads it (pgwire reads it signed; see [`TOO_MANY_PARAMETERS`]).
    fn count(&mut self) -> Option<usize> {
        Some(usize::from(self.i16()? as u16))
    }

    fn done(&self) -> Option<()> {
        self.0.is_empty().then_some(())
    }
}

/// Whether `body` is a well-formed body of a frame of type `kind`.
fn well_formed(kind: u8, body: &[u8]) -> bool {
    let mut b = Body(body);
    let mut shape = || -> Option<()> {
        match kind {
            // Query, CopyFail: one string.
            b'Q' | b'f' => b.cstring()?,
            // Parse: name, query, parameter types.
            b'P' => {
                b.cstring()?;
                b.cstring()?;
                let n = b.count()?;
                b.bytes(n.checked_mul(4)?)?;
            }
            // Bind: portal, statement, formats, values, result formats.
            b'B' => {
                b.cstring()?;
                b.cstring()?;
                let formats = b.count()?;
                b.bytes(formats.checked_mul(2)?)?;
                for _ in 0..b.count()? {
                    match b.i32()? {
                        -1 => {}
                        n => b.bytes(usize::try_from(n).ok()?)?,
                    }
                }
                let results = b.count()?;
                b.bytes(results.checked_mul(2)?)?;
            }
            // Describe, Close: 'S' or 'P', then a name.
            b'D' | b'C' => {
                b.bytes(1)?;
                b.cstring()?;
            }
            // Execute: portal, row limit.
            b'E' => {
                b.cstring()?;
                b.i32()?;
            }
            // Sync, Flush, Terminate, CopyDone: nothing.
            b'S' | b'H' | b'X' | b'c' => {}
            // CopyData, and the password family (whose shape depends on the
            // authentication step; `auth::startup` checks it there).
            b'd' | b'p' => return Some(()),
            _ => return None,
        }
        b.done()
    };
    shape().is_some()
}

/// The next frame in `buf`: untyped (the startup packet) or typed.
fn next_frame(buf: &[u8], typed: bool, max_frame: usize) -> Frame {
    let offset = usize::from(typed);
    let Some(header) = buf.get(offset..offset + 4) else {
        return Frame::Incomplete;
    };
    let declared = i32::from_be_bytes([header[0], header[1], header[2], header[3]]);
    let limit = if typed { max_frame } else { MAX_STARTUP };
    let min = if typed { 4 } else { 8 };
    let len = match usize::try_from(declared) {
        Ok(len) if (min..=limit).contains(&len) => len,
        _ => return Frame::Invalid(format!("invalid message length {declared}")),
    };
    let total = offset + len;
    if buf.len() < total {
        return Frame::Incomplete;
    }
    if typed && !well_formed(buf[0], &buf[5..total]) {
        let kind = char::from(buf[0]);
        return Frame::Invalid(format!(
            "invalid frontend message \"{}\"",
            kind.escape_default()
        ));
    }
    if typed
        && buf[0] == b'B'
        && bind_counts(&buf[5..total]).is_some_and(|(f, p)| f.max(p) > usize::from(i16::MAX as u16))
    {
        return Frame::TooManyParameters(total);
    }
    Frame::Complete(total)
}

/// The socket as pgwire's codec reads it: whole, checked frames only.
pub struct FrameGuard<S> {
    inner: S,
    /// Bytes read from the socket, not yet checked.
    pending: BytesMut,
    /// Checked frames not yet handed to the codec.
    ready: BytesMut,
    /// After the startup packet every frame starts with a type byte.
    typed: bool,
    /// Why the connection is being ended, once a bad frame arrived.
    refused: Option<String>,
    /// The largest typed frame accepted now (small until the client logs in).
    max_frame: usize,
}

impl<S> FrameGuard<S> {
    /// `buffered`: bytes already read during TLS negotiation.
    pub fn new(inner: S, buffered: BytesMut) -> Self {
        Self {
            inner,
            pending: buffered,
            ready: BytesMut::new(),
            typed: false,
            refused: None,
            max_frame: MAX_LOGIN_FRAME,
        }
    }

    /// Accept frames up to the full size once the client has logged in.
    pub fn logged_in(&mut self, yes: bool) {
        self.max_frame = if yes { MAX_FRAME } else { MAX_LOGIN_FRAME };
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for FrameGuard<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if !this.ready.is_empty() {
                let n = this.ready.len().min(out.remaining());
                out.put_slice(&this.ready[..n]);
                this.ready.advance(n);
                return Poll::Ready(Ok(()));
            }
            if let Some(reason) = &this.refused {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    reason.clone(),
                )));
            }
            match next_frame(&this.pending, this.typed, this.max_frame) {
                Frame::Complete(n) => {
                    this.ready = this.pending.split_to(n);
                    this.typed = true;
                }
                Frame::TooManyParameters(n) => {
                    this.pending.advance(n);
                    this.ready = refused_bind();
                }
                Frame::Invalid(reason) => this.refused = Some(reason),
                Frame::Incomplete => {
                    // Read straight into the pending buffer (no bounce copy).
                    this.pending.reserve(READ_CHUNK);
                    match poll_read_buf(Pin::new(&mut this.inner), cx, &mut this.pending) {
                        // End of stream: a partial frame is dropped, as pgwire would.
                        Poll::Ready(Ok(0)) => return Poll::Ready(Ok(())),
                        Poll::Ready(Ok(_)) => {}
                        Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                        Poll::Pending => return Poll::Pending,
                    }
                }
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for FrameGuard<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// One connection: TLS negotiation, then pgwire's message loop over the guard.
pub async fn serve_connection<H: PgWireServerHandlers>(
    tcp: TcpStream,
    tls: Option<TlsAcceptor>,
    handlers: H,
) -> io::Result<()> {
    // A second handle on the socket, for noticing a hang-up while a
    // statement runs (see `hung_up`); closed with the connection.
    let peer = tcp.as_fd().try_clone_to_owned()?;
    let startup_timeout = tokio::time::sleep(STARTUP_TIMEOUT);
    tokio::pin!(startup_timeout);
    let negotiated = tokio::select! {
        _ = &mut startup_timeout => return Ok(()),
        socket = negotiate_tls(tcp, tls) => socket?,
    };
    // None: a direct TLS handshake without a certificate configured.
    let Some(socket) = negotiated else {
        return Ok(());
    };
    let parts = socket.into_parts();
    let mut guarded = FramedParts::new(FrameGuard::new(parts.io, parts.read_buf), parts.codec);
    guarded.write_buf = parts.write_buf;
    let mut socket = Framed::from_parts(guarded);

    let startup = handlers.startup_handler();
    let simple = handlers.simple_query_handler();
    let extended = handlers.extended_query_handler();
    let copy = handlers.copy_handler();
    let cancel = handlers.cancel_handler();
    let errors = handlers.error_handler();
    loop {
        let logging_in = matches!(
            socket.state(),
            PgWireConnectionState::AwaitingStartup
                | PgWireConnectionState::AuthenticationInProgress
        );
        socket.get_mut().logged_in(!logging_in);
        let message = if logging_in {
            tokio::select! {
                _ = &mut startup_timeout => None,
                message = socket.next() => message,
            }
        } else if let Some(limit) = idle_in_transaction_limit(&socket) {
            tokio::select! {
                message = socket.next() => message,
                _ = tokio::time::sleep(limit) => {
                    // PostgreSQL ends the session; its transaction is rolled
                    // back when the connection's handlers are dropped.
                    let info = super::errors::fatal_info(
                        SqlState::IDLE_IN_TRANSACTION_SESSION_TIMEOUT,
                        "terminating connection due to idle-in-transaction timeout".to_string(),
                    );
                    let _ = socket
                        .send(PgWireBackendMessage::ErrorResponse(info.into()))
                        .await;
                    break;
                }
            }
        } else {
            socket.next().await
        };
        let message = match message {
            Some(Ok(message)) => message,
            Some(Err(e)) => {
                // A refused frame (or a frame pgwire could not decode): say so, then close.
                let info = super::errors::fatal_info(SqlState::PROTOCOL_VIOLATION, e.to_string());
                let _ = socket
                    .send(PgWireBackendMessage::ErrorResponse(info.into()))
                    .await;
                break;
            }
            None => break,
        };
        // Terminate: the client is leaving; close so that it is not left waiting.
        if matches!(message, PgWireFrontendMessage::Terminate(_)) {
            break;
        }
        let in_copy = match socket.state() {
            PgWireConnectionState::CopyInProgress(extended) => Some(extended),
            _ => None,
        };
        let is_extended = in_copy.unwrap_or_else(|| message.is_extended_query());
        let work = process_message(
            message,
            &mut socket,
            startup.clone(),
            simple.clone(),
            extended.clone(),
            copy.clone(),
            cancel.clone(),
        );
        // A statement whose client has gone is dropped, which cancels its
        // work (a runaway sort would otherwise run on with nobody to read it).
        let outcome = tokio::select! {
            outcome = work => outcome,
            _ = hung_up(&peer) => break,
        };
        if let Err(mut e) = outcome {
            errors.on_error(&socket, &mut e);
            process_error(&mut socket, e, is_extended).await?;
        }
    }
    Ok(())
}

/// How long the session may wait for its client inside a transaction
/// block: its `idle_in_transaction_session_timeout`, when set and a block
/// is open (an open transaction pins what background work would free).
fn idle_in_transaction_limit(client: &impl ClientInfo) -> Option<Duration> {
    if client.transaction_status() == TransactionStatus::Idle {
        return None;
    }
    client
        .metadata()
        .get(super::session_settings::IDLE_IN_TRANSACTION_KEY)
        .and_then(|ms| ms.parse::<u64>().ok())
        .filter(|ms| *ms > 0)
        .map(Duration::from_millis)
}

/// How often a running statement looks for its client's hang-up.
const HANG_UP_POLL: Duration = Duration::from_millis(250);

/// Resolves once the peer of socket `fd` has closed the connection (FIN or
/// reset). While a statement runs nobody reads the socket, so a hang-up
/// would go unnoticed until the first row is sent; `poll(2)` with
/// `POLLRDHUP` sees it without consuming pipelined input.
async fn hung_up(socket: &OwnedFd) {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    let gone = PollFlags::RDHUP | PollFlags::HUP | PollFlags::ERR;
    let now = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    loop {
        tokio::time::sleep(HANG_UP_POLL).await;
        let mut probe = [PollFd::new(socket, PollFlags::RDHUP)];
        // A zero timeout: never blocks the runtime.
        let ready = poll(&mut probe, Some(&now));
        if matches!(ready, Ok(n) if n > 0) && probe[0].revents().intersects(gone) {
            return;
        }
    }
}

/// Whether a password-family body is a SASLInitialResponse: mechanism, then
/// a length (-1 or exactly the bytes that follow). pgwire splits the data by
/// that length unchecked.
pub fn sasl_initial_well_formed(body: &[u8]) -> bool {
    let mut b = Body(body);
    (|| {
        b.cstring()?;
        match b.i32()? {
            -1 => {}
            n => b.bytes(usize::try_from(n).ok()?)?,
        }
        b.done()
    })()
    .is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut f = vec![kind];
        f.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
        f.extend_from_slice(body);
        f
    }

    #[test]
    fn well_formed_frames_pass_whole() {
        let q = typed(b'Q', b"SELECT 1\0");
        assert_eq!(next_frame(&q, true, MAX_FRAME), Frame::Complete(q.len()));
        assert_eq!(next_frame(&q[..5], true, MAX_FRAME), Frame::Incomplete);
        let mut bind = b"\0s\0".to_vec();
        bind.extend_from_slice(&1i16.to_be_bytes());
        bind.extend_from_slice(&0i16.to_be_bytes());
        bind.extend_from_slice(&2i16.to_be_bytes());
        bind.extend_from_slice(&(-1i32).to_be_bytes());
        bind.extend_from_slice(&3i32.to_be_bytes());
        bind.extend_from_slice(b"abc");
        bind.extend_from_slice(&0i16.to_be_bytes());
        let b = typed(b'B', &bind);
        assert_eq!(next_frame(&b, true, MAX_FRAME), Frame::Complete(b.len()));
        assert_eq!(
            next_frame(&typed(b'S', b""), true, MAX_FRAME),
            Frame::Complete(5)
        );
    }

    #[test]
    fn binds_past_pgwires_count_are_answered_not_misread() {
        let mut bind = b"\0s\0".to_vec();
        bind.extend_from_slice(&0u16.to_be_bytes());
        bind.extend_from_slice(&40_000u16.to_be_bytes());
        for _ in 0..40_000 {
            bind.extend_from_slice(&(-1i32).to_be_bytes());
        }
        bind.extend_from_slice(&0i16.to_be_bytes());
        let b = typed(b'B', &bind);
        assert_eq!(
            next_frame(&b, true, MAX_FRAME),
            Frame::TooManyParameters(b.len())
        );
        let replacement = refused_bind();
        assert_eq!(
            next_frame(&replacement, true, MAX_FRAME),
            Frame::Complete(replacement.len())
        );
    }

    #[test]
    fn lying_lengths_and_short_bodies_are_refused() {
        assert!(matches!(
            next_frame(&[b'd', 0, 0, 0, 2], true, MAX_FRAME),
            Frame::Invalid(_)
        ));
        assert!(matches!(
            next_frame(&[b'Q', 0xff, 0xff, 0xff, 0xff], true, MAX_FRAME),
            Frame::Invalid(_)
        ));
        assert!(matches!(
            next_frame(&typed(b'Q', b"no terminator"), true, MAX_FRAME),
            Frame::Invalid(_)
        ));
        // A Bind promising 1000 parameters in a few bytes.
        let mut bind = b"\0\0".to_vec();
        bind.extend_from_slice(&0i16.to_be_bytes());
        bind.extend_from_slice(&1000i16.to_be_bytes());
        assert!(matches!(
            next_frame(&typed(b'B', &bind), true, MAX_FRAME),
            Frame::Invalid(_)
        ));
        // Trailing bytes would be read as the next frame: refused.
        assert!(matches!(
            next_frame(&typed(b'S', b"xx"), true, MAX_FRAME),
            Frame::Invalid(_)
        ));
        assert!(matches!(
            next_frame(&typed(b'!', b""), true, MAX_FRAME),
            Frame::Invalid(_)
        ));
        assert!(matches!(
            next_frame(&[0, 0, 0, 3], false, MAX_FRAME),
            Frame::Invalid(_)
        ));
    }

    mod randomized {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(crate::fuzz_cases(5000)))]

            /// Arbitrary bytes: a verdict, never a panic, and a Complete
            /// frame never claims more bytes than there are.
            #[test]
            fn any_bytes_get_a_verdict(bytes in prop::collection::vec(any::<u8>(), 0..64), typed in any::<bool>()) {
                if let Frame::Complete(n) = next_frame(&bytes, typed, MAX_FRAME) {
                    prop_assert!(n <= bytes.len());
                }
            }
        }
    }
}
