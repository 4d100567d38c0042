//! Which listener a request arrived on: the server loop marks each request.

/// The listener a request arrived on, as a request extension: answers that name the emulator's
/// own URLs (OpenID metadata) use the scheme the client used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Http,
    Https,
}
