//! `saeta._relay`: registers the relay functions with Python. The logic lives in plain
//! Rust modules (tunnel, ipc, text_column, data_plane) tested by `cargo test`; only bytes and plain values
//! cross this boundary. Import it through `saeta.relay`, never directly.

pub mod data_plane;
mod data_py;
pub mod error;
pub mod ipc;
pub mod json_array;
pub mod text_column;
pub mod tunnel;

use pyo3::prelude::*;
use pyo3::types::PyBytes;

pyo3::import_exception!(saeta.errors, RelayError);

pub(crate) fn to_py(err: error::RelayError) -> PyErr {
    RelayError::new_err((err.code(), err.message().to_string()))
}

type ScanTuple = (u64, u64, u64, u64, u64, u64, bool);

/// (offset, length) of ArrowChunk.data inside a raw tunnel message.
#[pyfunction]
fn locate_payload(message: &[u8]) -> PyResult<(usize, usize)> {
    tunnel::locate_payload(message).map_err(to_py)
}

/// Scans whole encapsulated Arrow IPC messages; see saeta.relay.IpcScan for the fields.
#[pyfunction]
fn scan_ipc(data: &[u8]) -> PyResult<ScanTuple> {
    ipc::scan(data)
        .map(|s| (s.messages, s.schemas, s.dictionary_batches, s.record_batches, s.rows, s.body_bytes, s.eos))
        .map_err(to_py)
}

/// Checks the FlightInfo schema: exactly one schema message.
#[pyfunction]
fn check_schema_message(data: &[u8]) -> PyResult<()> {
    ipc::check_schema_message(data).map_err(to_py)
}

type Classified = (bool, usize, usize, i64, u8, u64);

/// One raw ArrowChunk, classified as both DoGet servers do: `(True, 0, 0, records, 0, 0)`
/// for the end marker, `(False, offset, length, rows, codec, declared)` for whole record
/// batches (see saeta.relay for codec and declared).
#[pyfunction]
fn classify_chunk(message: &[u8]) -> PyResult<Classified> {
    Ok(match tunnel::classify_chunk(message).map_err(to_py)? {
        tunnel::ChunkKind::End { records } => (true, 0, 0, records, 0, 0),
        tunnel::ChunkKind::Data { offset, len, rows, codec, declared } => {
            (false, offset, len, i64::try_from(rows).unwrap_or(i64::MAX), codec, declared)
        }
    })
}

/// A top-level JSON array of objects as JSON Lines (one object per line). The scan runs
/// without the GIL: it reads an immutable bytes object and writes a fresh buffer.
#[pyfunction]
fn json_array_to_lines<'py>(py: Python<'py>, data: &[u8], max_depth: usize) -> PyResult<Bound<'py, PyBytes>> {
    let lines = py.detach(|| json_array::to_lines(data, max_depth)).map_err(to_py)?;
    Ok(PyBytes::new(py, &lines))
}

type TextBuffers<'py> = (Bound<'py, PyBytes>, Bound<'py, PyBytes>);

/// The (text, offsets) buffers of a string column, written without the GIL.
fn text_buffers<'py>(py: Python<'py>, data: &[u8], write: fn(&[u8], &mut Vec<u8>)) -> PyResult<TextBuffers<'py>> {
    let (text, offsets) = py.detach(|| text_column::to_text(data, write)).map_err(to_py)?;
    Ok((PyBytes::new(py, &text), PyBytes::new(py, &offsets)))
}

/// Each 16-byte UUID in `data` as canonical text: the buffers of a string column.
#[pyfunction]
fn uuid_text<'py>(py: Python<'py>, data: &[u8]) -> PyResult<TextBuffers<'py>> {
    text_buffers(py, data, text_column::write_uuid)
}

/// Each month-day-nano interval in `data` as ISO 8601 duration text: the buffers of a
/// string column.
#[pyfunction]
fn interval_text<'py>(py: Python<'py>, data: &[u8]) -> PyResult<TextBuffers<'py>> {
    text_buffers(py, data, text_column::write_interval)
}

#[pymodule]
fn _relay(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(locate_payload, m)?)?;
    m.add_function(wrap_pyfunction!(scan_ipc, m)?)?;
    m.add_function(wrap_pyfunction!(check_schema_message, m)?)?;
    m.add_function(wrap_pyfunction!(classify_chunk, m)?)?;
    m.add_function(wrap_pyfunction!(json_array_to_lines, m)?)?;
    m.add_function(wrap_pyfunction!(uuid_text, m)?)?;
    m.add_function(wrap_pyfunction!(interval_text, m)?)?;
    m.add_class::<data_py::DataServer>()?;
    m.add_class::<data_py::DataCall>()?;
    m.add_class::<data_py::Payload>()?;
    m.add_class::<data_py::DataChunk>()?;
    m.add_class::<data_py::DataEnd>()?;
    m.add_class::<data_py::DataResume>()?;
    m.add_class::<data_py::CallEnded>()?;
    m.add("IMPLEMENTATION", "rust")?;
    Ok(())
}
