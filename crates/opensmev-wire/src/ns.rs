//! Namespace URIs the codec reads and writes (the SMEV ones come from
//! [`opensmev_types::SchemaVersion`]).

use opensmev_types::SchemaVersion;

/// SOAP 1.1 envelope.
pub const SOAP_ENV_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// SOAP 1.2 envelope (recognised only to refuse it with a clear message).
pub const SOAP12_ENV_NS: &str = "http://www.w3.org/2003/05/soap-envelope";
/// XOP (`xop:Include`).
pub const XOP_NS: &str = "http://www.w3.org/2004/08/xop/include";
/// XML Signature.
pub const DSIG_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
/// XML Schema instance (`xsi:type`).
pub const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";
/// The 1.3 routing namespace (`rout:Routing`, `rout:RoutingStatus`).
pub const ROUTING_NS_1_3: &str =
    "urn://x-artefacts-smev-gov-ru/services/message-exchange/types/routing/1.3";
/// The 1.3 directive namespace (`directive:Registry`, business content).
pub const DIRECTIVE_NS_1_3: &str =
    "urn://x-artefacts-smev-gov-ru/services/message-exchange/types/directive/1.3";

/// The routing namespace of a version (only 1.3 has one).
pub fn routing_ns(version: SchemaVersion) -> Option<&'static str> {
    (version == SchemaVersion::V1_3).then_some(ROUTING_NS_1_3)
}
