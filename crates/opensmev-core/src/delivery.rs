//! The signed SMEV answer that delivers a stored message (`GetRequestResponse` /
//! `GetResponseResponse`, signed by the bus: ЭП-СМЭВ): built here for every edge — the SOAP
//! endpoint frames it with the attachments, the integration API hands it over on request.

use std::collections::HashSet;

use opensmev_store::StoredMessage;
use opensmev_types::{MessageKind, Mnemonic, SchemaVersion};
use opensmev_wire::{DeliveredRequest, DeliveredResponse, MessageMetadata, Participant};
use opensmev_xmldsig::dsig::{self, Placement, SignOptions};
use opensmev_xmldsig::xml::{Document, Limits};

use crate::{Bus, BusError, HandOutError};

/// The `Id` the bus signs in its answers (made unique when the delivered data uses it).
pub const SMEV_ID: &str = "SIGNED_BY_SMEV";

impl Bus {
    /// Signs `xml`'s element `id` with the bus's key (ЭП-СМЭВ), in its SMEV place.
    pub fn sign_smev(&self, xml: &str, id: &str) -> Result<String, dsig::SignError> {
        let signed = dsig::sign_document(
            xml.as_bytes(),
            id,
            self.signer(),
            self.crypto(),
            Placement::Smev,
            &SignOptions::default(),
        )?;
        String::from_utf8(signed).map_err(|e| dsig::SignError::Other(e.to_string()))
    }

    /// A participant of a message as the answer names it.
    pub fn participant(&self, mnemonic: &Mnemonic) -> Participant {
        let registry = self.registry();
        let name = registry
            .system(mnemonic)
            .map(|s| s.name.clone())
            .unwrap_or_else(|| mnemonic.to_string());
        Participant {
            mnemonic: mnemonic.clone(),
            name,
        }
    }

    /// `MessageMetadata` of a message with its interaction `status` (what the answer to a send
    /// carries).
    pub fn metadata(
        &self,
        m: &opensmev_store::NewMessage,
        status: opensmev_types::InteractionStatus,
    ) -> MessageMetadata {
        let mut metadata = MessageMetadata::new(
            m.id.as_str(),
            m.kind,
            self.participant(&m.sender),
            m.sent_at,
        );
        metadata.recipient = Some(self.participant(&m.recipient));
        metadata.destination_name = m.recipient.to_string();
        metadata.status = Some(status);
        metadata
    }

    /// `MessageMetadata` of a stored message handed out now.
    fn delivered_metadata(&self, stored: &StoredMessage) -> MessageMetadata {
        let mut metadata = self.metadata(
            &stored.message,
            opensmev_types::InteractionStatus::MessageIsDelivered,
        );
        metadata.delivery_timestamp = Some(self.now());
        metadata
    }

    /// The answer that delivers `stored` in schema `version`, signed by the bus, with every
    /// `AttachmentContent/Content` empty (the edge places the attachments). A failure the
    /// message causes makes it undeliverable; a failure of the bus's own key is passing.
    pub fn delivery_xml(
        &self,
        stored: &StoredMessage,
        version: SchemaVersion,
    ) -> Result<String, HandOutError> {
        let undeliverable = |e: String| HandOutError::Undeliverable(e);
        let sender_data_xml =
            sender_data_for(stored, version).map_err(|e| undeliverable(e.to_string()))?;
        let m = &stored.message;
        let mut fragments = vec![sender_data_xml.as_str()];
        fragments.extend(m.sender_signature.as_deref());
        let id = smev_id(&fragments, stored).map_err(undeliverable)?;
        let attachments: Vec<String> = m.attachments.iter().map(|a| a.content_id.clone()).collect();
        let xml = if m.kind == MessageKind::Request {
            let delivered = DeliveredRequest {
                request_id_attr: id.clone(),
                sender_data_xml,
                metadata: self.delivered_metadata(stored),
                fs_attachments: Vec::new(),
                reply_to: m.reply_to.clone().unwrap_or_default(),
                sender_signature_xml: m.sender_signature.clone(),
                attachments,
            };
            opensmev_wire::get_request_response(version, Some(&delivered))
        } else {
            let delivered = DeliveredResponse {
                response_id_attr: id.clone(),
                original_message_id: m.original_message_id.as_ref().map(|i| i.to_string()),
                original_transaction_code: m.transaction_code.clone(),
                reference_message_id: m.reference_message_id.as_ref().map(|i| i.to_string()),
                sender_data_xml,
                metadata: self.delivered_metadata(stored),
                fs_attachments: Vec::new(),
                sender_signature_xml: m.sender_signature.clone(),
                attachments,
            };
            opensmev_wire::get_response_response(version, Some(&delivered))
        };
        match self.sign_smev(&xml, &id) {
            Ok(xml) => Ok(xml),
            Err(e @ dsig::SignError::Crypto(_)) => Err(HandOutError::Failed(BusError::Internal(
                format!("signing the answer: {e}"),
            ))),
            Err(e) => Err(undeliverable(format!("the answer cannot be signed: {e}"))),
        }
    }
}

/// An `Id` for the element the bus signs that nothing else in the answer carries: not the
/// embedded sender data, not the passed-on sender signature (any element of either, as the XML
/// parser reads them — whatever quotes or character references were written), not the
/// attachments (whose `AttachmentContent/Id` is an `xs:ID` of the same document).
fn smev_id(fragments: &[&str], stored: &StoredMessage) -> Result<String, String> {
    let mut taken: HashSet<String> = stored
        .message
        .attachments
        .iter()
        .map(|a| a.content_id.clone())
        .collect();
    for fragment in fragments {
        let doc = Document::parse_str(fragment, Limits::default())
            .map_err(|e| format!("stored XML cannot be read: {e}"))?;
        taken.extend(
            doc.elements()
                .filter_map(|e| e.id_attr())
                .map(str::to_owned),
        );
    }
    let mut id = SMEV_ID.to_owned();
    let mut n = 1;
    while taken.contains(&id) {
        n += 1;
        id = format!("{SMEV_ID}_{n}");
    }
    Ok(id)
}

/// The sender's data as the recipient's schema version needs it.
fn sender_data_for(stored: &StoredMessage, version: SchemaVersion) -> Result<String, BusError> {
    let m = &stored.message;
    if m.version == version {
        return Ok(m.sender_data.clone());
    }
    let doc = Document::parse_str(&m.sender_data, Limits::default())
        .map_err(|e| BusError::Internal(format!("stored sender data of {}: {e}", m.id)))?;
    Ok(opensmev_wire::rewrite_sender_data(
        &doc.root(),
        m.version,
        version,
    ))
}
