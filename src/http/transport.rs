//! Which listener a request arrived on: the server loop marks each request.

/// The listener a request arrived on, as a request extension: answers that name the emulator's
/// own URLs (OpenID metadata) use the scheme the client used. Absent means [`Transport::Http`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Http,
    Https,
}

impl Transport {
    /// The transport of a request: its extension, or plain HTTP when none was set.
    pub fn of<B>(req: &axum::http::Request<B>) -> Self {
        req.extensions()
            .get::<Transport>()
            .copied()
            .unwrap_or(Transport::Http)
    }

    pub fn scheme(self) -> &'static str {
        match self {
            Transport::Http => "http",
            Transport::Https => "https",
        }
    }
}
