//! Which listener a request arrived on: the server loop marks each request.

/// The scheme a request came in with, set as a request extension by the server loop; absent
/// means [`Transport::Http`].
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
