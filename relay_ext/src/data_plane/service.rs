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
        let last = !matches!(item, Item::Chunk { .. } | Item::Resume(_) | Item::End { .. });
        if matches!(item, Item::Chunk { .. } | Item::Resume(_)) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Full};
    use std::time::Duration;

    /// One gRPC length-prefixed message.
    fn framed(messages: &[&[u8]]) -> Bytes {
        let mut out = Vec::new();
        for m in messages {
            out.push(0);
            out.extend_from_slice(&u32::try_from(m.len()).unwrap().to_be_bytes());
            out.extend_from_slice(m);
        }
        Bytes::from(out)
    }

    fn request(path: &str, call_id: Option<&str>, body: Bytes) -> http::Request<Full<Bytes>> {
        let mut builder = http::Request::builder()
            .method("POST")
            .uri(format!("http://gateway{path}"))
            .header("content-type", "application/grpc")
            .header("te", "trailers");
        if let Some(id) = call_id {
            builder = builder.header(CALL_ID_KEY, id);
        }
        builder.body(Full::new(body)).unwrap()
    }

    /// The response's grpc-status and (decoded) grpc-message: in the headers of a
    /// trailers-only answer, else in the trailers.
    async fn status_of(response: http::Response<tonic::body::Body>) -> (String, String) {
        let (parts, body) = response.into_parts();
        let status = match Status::from_header_map(&parts.headers) {
            Some(status) => status,
            None => {
                let trailers = body.collect().await.unwrap().trailers().cloned().unwrap_or_default();
                Status::from_header_map(&trailers).expect("a grpc-status")
            }
        };
        ((status.code() as i32).to_string(), status.message().to_string())
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
    }

    /// Python's side, played by the test: the next call that arrives at the hub.
    async fn next_arrival(hub: &Hub) -> Arc<Call> {
        for _ in 0..1000 {
            if let Some(call) = hub.poll().0.pop() {
                return call;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        panic!("no call arrived");
    }

    async fn next_item(call: &Call) -> Item {
        for _ in 0..1000 {
            if let Some(item) = call.take() {
                return item;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        panic!("no item came");
    }

    fn service(hub: &Arc<Hub>) -> DataService {
        DataService::new(hub.clone(), 1 << 20)
    }

    const END_3: &[u8] = &[0x10, 0x01, 0x18, 0x03];

    #[test]
    fn only_doget_is_served() {
        runtime().block_on(async {
            let hub = Arc::new(Hub::new(2).unwrap());
            let response = service(&hub).call(request("/saeta.v1.Tunnel/Control", None, Bytes::new())).await.unwrap();
            assert_eq!(status_of(response).await.0, "12"); // UNIMPLEMENTED
            assert!(hub.poll().0.is_empty());
        });
    }

    #[test]
    fn a_call_without_a_usable_id_is_not_found() {
        runtime().block_on(async {
            let hub = Arc::new(Hub::new(2).unwrap());
            let long = "x".repeat(MAX_CALL_ID_LEN + 1);
            for id in [None, Some(""), Some(long.as_str())] {
                let response = service(&hub).call(request(DOGET_PATH, id, framed(&[END_3]))).await.unwrap();
                assert_eq!(status_of(response).await.0, "5"); // NOT_FOUND
            }
            assert!(hub.poll().0.is_empty());
        });
    }

    #[test]
    fn an_accepted_call_hands_over_its_end_marker_and_ends_as_python_says() {
        runtime().block_on(async {
            for (abort, code, message) in [
                (None, "0", ""),
                (Some(Abort { invalid_data: true, reason: "bad rows".into() }), "3", "INVALID_DATA: bad rows"),
                (Some(Abort::cancelled("unsubscribed")), "1", "unsubscribed"),
            ] {
                let hub = Arc::new(Hub::new(2).unwrap());
                let served = tokio::spawn(service(&hub).call(request(DOGET_PATH, Some("c1"), framed(&[END_3]))));
                let call = next_arrival(&hub).await;
                assert_eq!(call.call_id, "c1");
                call.decide(Decision::Accepted);
                assert!(matches!(next_item(&call).await, Item::End { records: 3 }));
                call.finish(abort);
                let (got_code, got_message) = status_of(served.await.unwrap().unwrap()).await;
                assert_eq!((got_code.as_str(), got_message.as_str()), (code, message));
            }
        });
    }

    #[test]
    fn a_call_closed_before_its_end_marker_says_so() {
        runtime().block_on(async {
            let hub = Arc::new(Hub::new(2).unwrap());
            let served = tokio::spawn(service(&hub).call(request(DOGET_PATH, Some("c1"), Bytes::new())));
            let call = next_arrival(&hub).await;
            call.decide(Decision::Accepted);
            assert!(matches!(next_item(&call).await, Item::Closed(None)));
            call.finish(Some(Abort::cancelled("the connector stopped sending mid-query")));
            assert_eq!(status_of(served.await.unwrap().unwrap()).await.0, "1"); // CANCELLED
        });
    }

    #[test]
    fn a_rejected_call_gets_the_status_python_chose() {
        runtime().block_on(async {
            let hub = Arc::new(Hub::new(2).unwrap());
            let served = tokio::spawn(service(&hub).call(request(DOGET_PATH, Some("c1"), framed(&[END_3]))));
            let call = next_arrival(&hub).await;
            call.decide(Decision::Rejected(tonic::Code::PermissionDenied, "CERT_REVOKED".into()));
            let (code, message) = status_of(served.await.unwrap().unwrap()).await;
            assert_eq!((code.as_str(), message.as_str()), ("7", "CERT_REVOKED"));
        });
    }

    #[test]
    fn invalid_data_is_handed_over_and_nothing_after_it_is_read() {
        runtime().block_on(async {
            let hub = Arc::new(Hub::new(2).unwrap());
            let garbage: &[u8] = &[0x0a, 0x02, 1, 2];
            let body = framed(&[garbage, END_3]);
            let served = tokio::spawn(service(&hub).call(request(DOGET_PATH, Some("c1"), body)));
            let call = next_arrival(&hub).await;
            call.decide(Decision::Accepted);
            assert!(matches!(next_item(&call).await, Item::Invalid(_)));
            call.finish(Some(Abort { invalid_data: true, reason: "invalid Arrow data".into() }));
            assert_eq!(status_of(served.await.unwrap().unwrap()).await.0, "3");
            assert!(call.take().is_none()); // the end marker behind it was never queued
        });
    }

    #[test]
    fn a_message_over_the_limit_ends_the_call_resource_exhausted() {
        runtime().block_on(async {
            let hub = Arc::new(Hub::new(2).unwrap());
            let big = vec![0u8; 64];
            let served =
                tokio::spawn(DataService::new(hub.clone(), 16).call(request(DOGET_PATH, Some("c1"), framed(&[&big]))));
            let call = next_arrival(&hub).await;
            call.decide(Decision::Accepted);
            assert!(matches!(next_item(&call).await, Item::TooLarge(_)));
            assert_eq!(status_of(served.await.unwrap().unwrap()).await.0, "8"); // RESOURCE_EXHAUSTED
        });
    }

    #[test]
    fn a_closed_hub_turns_calls_away() {
        runtime().block_on(async {
            let hub = Arc::new(Hub::new(2).unwrap());
            hub.close_all("stopping");
            let response = service(&hub).call(request(DOGET_PATH, Some("c1"), framed(&[END_3]))).await.unwrap();
            assert_eq!(status_of(response).await.0, "14"); // UNAVAILABLE
        });
    }
}
