//! [`Operation`]: the SMEV 3 operations, their SOAP actions and element names.

use opensmev_types::SchemaVersion;

/// An operation of the SMEV message-exchange service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// `SendRequest`: a consumer posts a request.
    SendRequest,
    /// `SendResponse`: a provider answers.
    SendResponse,
    /// `GetRequest`: a provider polls its request queue.
    GetRequest,
    /// `GetResponse`: a consumer polls its response queue.
    GetResponse,
    /// `Ack`: confirms a delivered message.
    Ack,
    /// `GetStatus`: asynchronous processing statuses.
    GetStatus,
    /// `GetIncomingQueueStatistics` (schema 1.1 only).
    GetIncomingQueueStatistics,
}

impl Operation {
    /// Every operation.
    pub const ALL: [Operation; 7] = [
        Operation::SendRequest,
        Operation::SendResponse,
        Operation::GetRequest,
        Operation::GetResponse,
        Operation::Ack,
        Operation::GetStatus,
        Operation::GetIncomingQueueStatistics,
    ];

    /// The WSDL operation name, e.g. `SendRequest`.
    pub fn name(self) -> &'static str {
        match self {
            Operation::SendRequest => "SendRequest",
            Operation::SendResponse => "SendResponse",
            Operation::GetRequest => "GetRequest",
            Operation::GetResponse => "GetResponse",
            Operation::Ack => "Ack",
            Operation::GetStatus => "GetStatus",
            Operation::GetIncomingQueueStatistics => "GetIncomingQueueStatistics",
        }
    }

    /// The `SOAPAction` of the WSDL binding, e.g. `urn:SendRequest`.
    pub fn soap_action(self) -> &'static str {
        match self {
            Operation::SendRequest => "urn:SendRequest",
            Operation::SendResponse => "urn:SendResponse",
            Operation::GetRequest => "urn:GetRequest",
            Operation::GetResponse => "urn:GetResponse",
            Operation::Ack => "urn:Ack",
            Operation::GetStatus => "urn:GetStatus",
            Operation::GetIncomingQueueStatistics => "urn:GetIncomingQueueStatistics",
        }
    }

    /// The local name of the request element (in the version's `types` namespace).
    pub fn request_element(self) -> &'static str {
        match self {
            Operation::SendRequest => "SendRequestRequest",
            Operation::SendResponse => "SendResponseRequest",
            Operation::GetRequest => "GetRequestRequest",
            Operation::GetResponse => "GetResponseRequest",
            Operation::Ack => "AckRequest",
            Operation::GetStatus => "GetStatusRequest",
            Operation::GetIncomingQueueStatistics => "GetIncomingQueueStatisticsRequest",
        }
    }

    /// The local name of the response element (in the version's `types` namespace).
    pub fn response_element(self) -> &'static str {
        match self {
            Operation::SendRequest => "SendRequestResponse",
            Operation::SendResponse => "SendResponseResponse",
            Operation::GetRequest => "GetRequestResponse",
            Operation::GetResponse => "GetResponseResponse",
            Operation::Ack => "AckResponse",
            Operation::GetStatus => "GetStatusResponse",
            Operation::GetIncomingQueueStatistics => "GetIncomingQueueStatisticsResponse",
        }
    }

    /// Whether the version's WSDL defines the operation (`GetIncomingQueueStatistics` is 1.1 only).
    pub fn is_available_in(self, version: SchemaVersion) -> bool {
        self != Operation::GetIncomingQueueStatistics || version == SchemaVersion::V1_1
    }

    /// The operation whose request element has this local name.
    pub fn from_request_element(local: &str) -> Option<Operation> {
        Self::ALL
            .into_iter()
            .find(|op| op.request_element() == local)
    }

    /// The operation named by a `SOAPAction` value (`urn:SendRequest`, quoted or not, or the bare
    /// operation name).
    pub fn from_soap_action(action: &str) -> Option<Operation> {
        let action = action.trim();
        let action = action
            .strip_prefix('"')
            .and_then(|a| a.strip_suffix('"'))
            .unwrap_or(action)
            .trim();
        if action.is_empty() {
            return None;
        }
        Self::ALL
            .into_iter()
            .find(|op| op.soap_action() == action || op.name() == action)
    }
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
