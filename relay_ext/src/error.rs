//! The one error type of the relay. Each variant carries a stable code that reaches the
//! Python caller as `saeta.errors.RelayError.code` (see lib.rs for the mapping).

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelayError {
    /// The raw tunnel message is not a well-formed ArrowChunk protobuf message.
    TunnelMessage(String),
    /// The payload is not a sequence of whole, well-formed Arrow IPC messages.
    IpcFraming(String),
    /// The Arrow IPC messages are well-formed but not allowed where they appear.
    IpcSequence(String),
    /// A JSON document that is not a top-level array of objects.
    Json(String),
    /// A fixed-width column that is not whole values, or whose text would not fit.
    Column(String),
}

impl RelayError {
    pub fn code(&self) -> &'static str {
        match self {
            RelayError::TunnelMessage(_) => "TUNNEL_MESSAGE_INVALID",
            RelayError::IpcFraming(_) => "IPC_FRAMING_INVALID",
            RelayError::IpcSequence(_) => "IPC_SEQUENCE_INVALID",
            RelayError::Json(_) => "JSON_INVALID",
            RelayError::Column(_) => "COLUMN_INVALID",
        }
    }

    pub fn message(&self) -> &str {
        match self {
            RelayError::TunnelMessage(m)
            | RelayError::IpcFraming(m)
            | RelayError::IpcSequence(m)
            | RelayError::Json(m)
            | RelayError::Column(m) => m,
        }
    }
}

impl fmt::Display for RelayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code(), self.message())
    }
}

impl std::error::Error for RelayError {}
