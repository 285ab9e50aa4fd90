//! The data plane as Python sees it: `DataServer` (start, the wake-up descriptor, poll,
//! close), `DataCall` (decide, take items, finish) and `Payload` (a read-only buffer over
//! the received message: `memoryview(payload)` reaches the socket without a copy).

use std::os::raw::{c_int, c_void};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use tonic::Code;

use crate::data_plane::call::{Abort, Call, Decision, Item};
use crate::data_plane::hub::Hub;
use crate::data_plane::{DataPlane, Settings};

/// What `DataCall.take` gives: whole record batches of the call.
#[pyclass(module = "saeta._relay", frozen)]
pub struct DataChunk {
    #[pyo3(get)]
    payload: Py<Payload>,
    #[pyo3(get)]
    rows: i64,
    /// The body codec of its compressed batches: 0 none, 1 LZ4 frame, 2 ZSTD.
    #[pyo3(get)]
    codec: u8,
    /// What its bodies declare they decompress to, in bytes.
    #[pyo3(get)]
    declared: u64,
}

/// What `DataCall.take` gives: a subscription's resume point, the whole ArrowChunk
/// message (at most 2,048 bytes; Python parses it).
#[pyclass(module = "saeta._relay", frozen)]
pub struct DataResume {
    message: Bytes,
}

#[pymethods]
impl DataResume {
    #[getter]
    fn message<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.message)
    }
}

/// What `DataCall.take` gives: the connector's end marker, with the rows it announces.
#[pyclass(module = "saeta._relay", frozen)]
pub struct DataEnd {
    #[pyo3(get)]
    records: i64,
}

/// What `DataCall.take` gives: the call ended before its end marker. No reason: the
/// connector closed its stream cleanly; ``too_large``: on a message over max_message_bytes.
#[pyclass(module = "saeta._relay", frozen)]
pub struct CallEnded {
    #[pyo3(get)]
    reason: Option<String>,
    #[pyo3(get)]
    too_large: bool,
}

#[pyclass(module = "saeta._relay", frozen)]
pub struct DataServer {
    plane: Mutex<Option<DataPlane>>,
    hub: Arc<Hub>,
    port: u16,
}

#[pymethods]
impl DataServer {
    #[new]
    #[pyo3(signature = (
        host, port, cert_pem, key_pem, ca_pem, *, max_message_bytes, queue_depth = 4,
        keepalive_seconds = 20.0, keepalive_timeout_seconds = 10.0, handshake_seconds = 10.0,
        max_streams_per_connection = 256, threads = 2
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        host: String,
        port: u16,
        cert_pem: Vec<u8>,
        key_pem: Vec<u8>,
        ca_pem: Vec<u8>,
        max_message_bytes: usize,
        queue_depth: usize,
        keepalive_seconds: f64,
        keepalive_timeout_seconds: f64,
        handshake_seconds: f64,
        max_streams_per_connection: u32,
        threads: usize,
    ) -> PyResult<Self> {
        let seconds =
            |s: f64| Duration::try_from_secs_f64(s).map_err(|_| PyValueError::new_err(format!("not a duration: {s}")));
        let settings = Settings {
            host,
            port,
            cert_pem,
            key_pem,
            ca_pem,
            max_message_bytes,
            queue_depth,
            keepalive: seconds(keepalive_seconds)?,
            keepalive_timeout: seconds(keepalive_timeout_seconds)?,
            handshake_timeout: seconds(handshake_seconds)?,
            max_streams_per_connection,
            threads,
        };
        let plane = py.detach(|| DataPlane::start(settings)).map_err(|e| PyOSError::new_err(e.to_string()))?;
        let hub = plane.hub.clone();
        let port = plane.addr.port();
        Ok(DataServer { plane: Mutex::new(Some(plane)), hub, port })
    }

    /// The port listened on (useful when 0 was asked for).
    #[getter]
    fn port(&self) -> u16 {
        self.port
    }

    /// The descriptor to watch for readability; then call `poll()`.
    fn wake_fd(&self) -> i32 {
        self.hub.waker.fd()
    }

    /// (new calls awaiting a decision, keys of calls with items to take).
    fn poll(&self) -> (Vec<DataCall>, Vec<u64>) {
        let (arrivals, ready) = self.hub.poll();
        (arrivals.into_iter().map(|call| DataCall { call }).collect(), ready)
    }

    /// Ends every call with CANCELLED and stops the server, waiting up to `grace_seconds`.
    #[pyo3(signature = (grace_seconds = 1.0))]
    fn close(&self, py: Python<'_>, grace_seconds: f64) {
        let plane = self.plane.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(mut plane) = plane {
            let grace = Duration::try_from_secs_f64(grace_seconds).unwrap_or(Duration::from_secs(1));
            py.detach(move || plane.close(grace));
        }
    }
}

#[pyclass(module = "saeta._relay", frozen)]
pub struct DataCall {
    call: Arc<Call>,
}

fn status_code(name: &str) -> PyResult<Code> {
    Ok(match name {
        "NOT_FOUND" => Code::NotFound,
        "PERMISSION_DENIED" => Code::PermissionDenied,
        "UNAUTHENTICATED" => Code::Unauthenticated,
        "INVALID_ARGUMENT" => Code::InvalidArgument,
        "UNAVAILABLE" => Code::Unavailable,
        _ => return Err(PyValueError::new_err(format!("unsupported status code {name:?}"))),
    })
}

#[pymethods]
impl DataCall {
    #[getter]
    fn key(&self) -> u64 {
        self.call.key
    }

    #[getter]
    fn call_id(&self) -> &str {
        &self.call.call_id
    }

    #[getter]
    fn peer(&self) -> &str {
        &self.call.peer
    }

    /// The client's leaf certificate, DER (empty if none: rustls requires one, so never).
    #[getter]
    fn peer_cert<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.call.peer_cert)
    }

    fn accept(&self) {
        self.call.decide(Decision::Accepted);
    }

    /// Refuses the call with a gRPC status (by name, e.g. "NOT_FOUND") and a message.
    fn reject(&self, code: &str, message: String) -> PyResult<()> {
        self.call.decide(Decision::Rejected(status_code(code)?, message));
        Ok(())
    }

    /// No reason answers the connector OK; a reason ends the call with CANCELLED, or with
    /// INVALID_ARGUMENT (`INVALID_DATA: reason`) when ``invalid_data``.
    #[pyo3(signature = (abort_reason = None, invalid_data = false))]
    fn finish(&self, abort_reason: Option<String>, invalid_data: bool) {
        self.call.finish(abort_reason.map(|reason| Abort { invalid_data, reason }));
    }

    /// The next item or None: a DataChunk, a DataResume, the DataEnd marker, or CallEnded. Invalid
    /// data raises RelayError.
    fn take(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        let item = match self.call.take() {
            None => return Ok(None),
            Some(item) => item,
        };
        Ok(Some(match item {
            Item::Chunk { message, offset, len, rows, codec, declared } => {
                let payload = Py::new(py, Payload { message, offset, len })?;
                let rows = i64::try_from(rows).unwrap_or(i64::MAX);
                Py::new(py, DataChunk { payload, rows, codec, declared })?.into_any()
            }
            Item::Resume(message) => Py::new(py, DataResume { message })?.into_any(),
            Item::End { records } => Py::new(py, DataEnd { records })?.into_any(),
            Item::Closed(reason) => Py::new(py, CallEnded { reason, too_large: false })?.into_any(),
            Item::TooLarge(reason) => Py::new(py, CallEnded { reason: Some(reason), too_large: true })?.into_any(),
            Item::Invalid(err) => return Err(crate::to_py(err)),
        }))
    }
}

impl Drop for DataCall {
    /// A call Python lets go of without finishing is cancelled, never left hanging.
    fn drop(&mut self) {
        self.call.finish(Some(Abort::cancelled("the gateway dropped the call")));
    }
}

#[pyclass(module = "saeta._relay", frozen)]
pub struct Payload {
    message: Bytes,
    offset: usize,
    len: usize,
}

#[pymethods]
impl Payload {
    fn __len__(&self) -> usize {
        self.len
    }

    /// Read-only, contiguous bytes: `memoryview(payload)` and `transport.write` take it as is.
    #[allow(unsafe_code)]
    unsafe fn __getbuffer__(slf: Bound<'_, Self>, view: *mut ffi::Py_buffer, flags: c_int) -> PyResult<()> {
        let this = slf.get();
        let data = this.message[this.offset..this.offset + this.len].as_ptr();
        let len = ffi::Py_ssize_t::try_from(this.len).map_err(|_| PyValueError::new_err("payload too large"))?;
        // SAFETY: `data` points into `this.message`, an immutable, reference-counted buffer
        // owned by this frozen object; PyBuffer_FillInfo takes a reference to `slf`, so the
        // bytes outlive every view. The view is read-only (a writable request fails).
        let rc = unsafe { ffi::PyBuffer_FillInfo(view, slf.as_ptr(), data.cast_mut().cast::<c_void>(), len, 1, flags) };
        if rc == -1 {
            return Err(PyErr::fetch(slf.py()));
        }
        Ok(())
    }
}
