//! Connecting to a lakegate server: endpoint, bearer token, and turning
//! transport failures into errors that say what to do.

use grpc_proxy::auth::MAX_TOKEN_BYTES;
use grpc_proxy::proto::governance_client::GovernanceClient;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Status};

use crate::command::Global;
use crate::exit::CliError;

/// Largest response the client accepts (long `permissions list` outputs).
const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

/// Adds `authorization: Bearer TOKEN` to every request (nothing if no
/// token was given; the server then says how to get one).
#[derive(Clone)]
pub struct Bearer(Option<MetadataValue<Ascii>>);

impl Interceptor for Bearer {
    fn call(&mut self, mut req: Request<()>) -> Result<Request<()>, Status> {
        if let Some(v) = &self.0 {
            req.metadata_mut().insert("authorization", v.clone());
        }
        Ok(req)
    }
}

/// A governance client with the caller's token.
pub type Client = GovernanceClient<InterceptedService<Channel, Bearer>>;

/// A connected client, and the endpoint for messages.
pub struct Conn {
    /// The client.
    pub client: Client,
    /// The endpoint URL.
    pub endpoint: String,
}

impl Conn {
    /// Maps a failed call's status to a CLI error.
    pub fn fail(&self, s: Status) -> CliError {
        CliError::from_status(s, &self.endpoint)
    }
}

fn source_chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        let t = s.to_string();
        if !parts.contains(&t) {
            parts.push(t);
        }
        cur = s.source();
    }
    parts.join(": ")
}

/// `HOST:PORT` and `grpc://HOST:PORT` mean `http://HOST:PORT`;
/// `grpc+tls://` means `https://`.
fn normalize(endpoint: &str) -> String {
    let e = endpoint.trim();
    if let Some(rest) = e.strip_prefix("grpc://") {
        format!("http://{rest}")
    } else if let Some(rest) = e.strip_prefix("grpc+tls://") {
        format!("https://{rest}")
    } else if e.contains("://") {
        e.to_string()
    } else {
        format!("http://{e}")
    }
}

/// Connects to the server named by `--endpoint`.
pub async fn connect(g: &Global) -> Result<Conn, CliError> {
    let endpoint = normalize(&g.endpoint);
    let token = match &g.token {
        None => None,
        Some(t) if t.trim().len() > MAX_TOKEN_BYTES => {
            return Err(CliError::denied(format!(
                "the token is {} bytes; at most {MAX_TOKEN_BYTES} are accepted; mint a new one \
                 with `lakegate token` (fewer groups and attributes)",
                t.trim().len()
            )));
        }
        Some(t) => {
            let v: MetadataValue<Ascii> = format!("Bearer {}", t.trim()).parse().map_err(|_| {
                CliError::usage(
                    "the token contains characters that cannot be sent; pass the token exactly \
                     as `lakegate token` printed it",
                )
            })?;
            Some(v)
        }
    };
    let ep = Endpoint::from_shared(endpoint.clone())
        .map_err(|e| {
            CliError::usage(format!(
                "`{endpoint}` is not a valid endpoint ({e}); write http://HOST:PORT"
            ))
        })?
        .connect_timeout(std::time::Duration::from_secs(5))
        .tcp_nodelay(true);
    let channel = ep.connect().await.map_err(|e| {
        CliError::error(format!(
            "cannot connect to lakegate at {endpoint} ({}); is `lakegate serve` running at \
             {endpoint}? set --endpoint or LAKEGATE_ENDPOINT",
            source_chain(&e)
        ))
    })?;
    let client = GovernanceClient::with_interceptor(channel, Bearer(token))
        .max_decoding_message_size(MAX_RESPONSE_BYTES);
    Ok(Conn { client, endpoint })
}
