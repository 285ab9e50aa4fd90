//! `saeta.v1.Tunnel/DoGet` as a tonic service without generated code: raw messages in
//! (the relay locates the payload itself), an empty DoGetSummary out.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::{http, BoxFuture, Service};
use tonic::server::{Grpc, NamedService};
use tonic::{Request, Response, Status, Streaming};

use super::call::{classify, Abort, Call, Decision, Item};
use super::hub::Hub;

pub const DOGET_PATH: &str = "/saeta.v1.Tunnel/DoGet";
pub const CALL_ID_KEY: &str = "saeta-call-id";
const MAX_CALL_ID_LEN: usize = 128;

#[derive(Clone, Copy, Default)]
pub struct RawCodec;

pub struct SummaryEncoder;
pub struct RawDecoder;

impl Codec for RawCodec {
    type Encode = ();
    type Decode = Bytes;
    type Encoder = SummaryEncoder;
    type Decoder = RawDecoder;

    fn encoder(&mut self) -> SummaryEncoder {
        SummaryEncoder
    }

    fn decoder(&mut self) -> RawDecoder {
        RawDecoder
    }
}

impl Encoder for SummaryEncoder {
    type Item = ();
    type Error = Status;

    /// DoGetSummary with every field at its default: zero bytes on the wire.
    fn encode(&mut self, _item: (), _dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        Ok(())
    }
}

impl Decoder for RawDecoder {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

#[derive(Clone)]
pub struct DataService {
    hub: Arc<Hub>,
    max_message_bytes: usize,
}

impl DataService {
    pub fn new(hub: Arc<Hub>, max_message_bytes: usize) -> Self {
        DataService { hub, max_message_bytes }
    }
}

impl NamedService for DataService {
    const NAME: &'static str = "saeta.v1.Tunnel";
}

/// How a data call ends: OK, INVALID_ARGUMENT when the gateway refused what the connector
/// sent (`Abort::invalid_data`; the status message is `INVALID_DATA: reason`), else CANCELLED.
fn ended(abort: Option<Abort>) -> Result<Response<()>, Status> {
    match abort {
        None => Ok(Response::new(())),
        Some(Abort { invalid_data: true, reason }) => Err(Status::invalid_argument(format!("INVALID_DATA: {reason}"))),
        Some(Abort { reason, .. }) => Err(Status::cancelled(reason)),
    }
}

/// Removes the call from the hub's live set when the server task ends, however it ends.
struct Departure<'a>(&'a Hub, u64);

impl Drop for Departure<'_> {
    fn drop(&mut self) {
        self.0.depart(self.1);
    }
}

async fn serve_call(hub: Arc<Hub>, request: Request<Streaming<Bytes>>) -> Result<Response<()>, Status> {
    let call_id = match request.metadata().get(CALL_ID_KEY).map(|v| v.to_str()) {
        Some(Ok(id)) if !id.is_empty() && id.len() <= MAX_CALL_ID_LEN => id.to_string(),
        _ => return Err(Status::not_found("no such data call")),
    };
    let peer_cert =
        request.peer_certs().and_then(|certs| certs.first().map(|c| c.as_ref().to_vec())).unwrap_or_default();
    let peer = match request.remote_addr() {
        Some(std::net::SocketAddr::V4(a)) => format!("ipv4:{a}"),
        Some(std::net::SocketAddr::V6(a)) => format!("ipv6:{a}"),
        None => "unknown".to_string(),
    };
    let mut stream = request.into_inner();
    let call: Arc<Call> =
        hub.arrive(call_id, peer_cert, peer).ok_or_else(|| Status::unavailable("gateway shutting down"))?;
    let _departure = Departure(&hub, call.key);
    match call.decided().await {
        Err(reason) => return ended(reason),
        Ok(Decision::Rejected(code, message)) => return Err(Status::new(code, message)),
        Ok(_) => {}
    }
    loop {
        let next = match call.until_finished(stream.message()).await {
            Ok(next) => next,
            Err(reason) => return ended(reason),
        };
        let item = match next {
            Ok(Some(message)) => classify(message),
            Ok(None) => Item::Closed(None),
            Err(status) if status.code() == tonic::Code::OutOfRange => {
                // The decoder refused a message over max_message_bytes before reading it:
                // this call ends RESOURCE_EXHAUSTED at once, as grpcio ends it on the
                // tunnel port, and the query learns that the call broke.
                hub.push(&call, Item::TooLarge(status.message().to_string()));
                return Err(Status::resource_exhausted(status.message().to_string()));
            }
            Err(status) => Item::Closed(Some(status.message().to_string())),
        };
        let last = !matches!(item, Item::Chunk { .. } | Item::End { .. });
        if matches!(item, Item::Chunk { .. }) {
            if let Err(reason) = call.until_finished(call.room()).await {
                return ended(reason);
            }
        }
        hub.push(&call, item);
        if last {
            break;
        }
    }
    ended(call.wait_finished().await)
}

impl<B> Service<http::Request<B>> for DataService
where
    B: tonic::codegen::Body + Send + 'static,
    B::Error: Into<tonic::codegen::StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Infallible>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        if req.uri().path() != DOGET_PATH {
            return Box::pin(async { Ok(Status::unimplemented("only DoGet is served on this port").into_http()) });
        }
        let hub = self.hub.clone();
        let limit = self.max_message_bytes;
        Box::pin(async move {
            let method = DoGetMethod(hub);
            let mut grpc = Grpc::new(RawCodec).max_decoding_message_size(limit);
            Ok(grpc.client_streaming(method, req).await)
        })
    }
}

struct DoGetMethod(Arc<Hub>);

impl Service<Request<Streaming<Bytes>>> for DoGetMethod {
    type Response = Response<()>;
    type Error = Status;
    type Future = BoxFuture<Response<()>, Status>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Status>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Streaming<Bytes>>) -> Self::Future {
        Box::pin(serve_call(self.0.clone(), request))
    }
}
