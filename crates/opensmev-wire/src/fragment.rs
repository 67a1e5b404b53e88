//! Stored fragments: [`standalone`] (an element's exact source made independent of its context)
//! and [`rewrite_sender_data`] (the sender's data in another schema version's namespaces).

use opensmev_types::{InteractionStatus, SchemaVersion};
use opensmev_xmldsig::xml::{Element, XML_NS};

use crate::lexical::{escape_attr, escape_text, truncate_chars};
use crate::ns::{DIRECTIVE_NS_1_3, ROUTING_NS_1_3, XSI_NS};

/// The element's exact source, with the namespace declarations it inherits from its ancestors
/// added to its start tag (those it does not re-declare itself), so that the fragment means the
/// same wherever it is inserted.
///
/// All in-scope declarations are added, used or not (QName-valued content such as `xsi:type`
/// may need them). When no default namespace is in scope and the element does not declare one,
/// `xmlns=""` is added, so that unprefixed names stay in no namespace when the fragment is put
/// under a default namespace. Signatures over the element stay valid: exclusive C14N and the
/// SMEV transform see the same namespaces in scope, and a declaration the element does not use
/// is not output by either.
pub fn standalone(element: &Element<'_, '_>) -> String {
    element.standalone()
}

/// Re-serializes a `SenderProvidedRequestData` or `SenderProvidedResponseData` element written
/// in schema `from` as a standalone fragment in the `types`/`basic` namespaces of schema `to`
/// (prefix `ns2` for types, basic as the default namespace, `ns3` for faults, as in the answers
/// this crate writes). With `from == to` it is [`standalone`].
///
/// Copied verbatim (exact source, plus inherited declarations as in [`standalone`]): everything
/// below `MessagePrimaryContent` (the business document, so a `PersonalSignature` over it stays
/// valid), below `BusinessProcessMetadata`, and any element outside the SMEV namespaces (the
/// `ds:Signature` inside `PersonalSignature`). SMEV elements are rewritten: their namespace is
/// mapped, attributes are kept (an `xsi:type` whose QName is in an SMEV namespace is mapped too),
/// simple values are re-escaped, white space and comments between SMEV elements are dropped.
///
/// What the target schema does not allow is adapted:
/// * 1.3 → 1.1/1.2: `AttachmentHeader/NamespaceUri`, `AttachmentHeader/Archive`,
///   `RefAttachmentHeader/FileName`, `RefAttachmentHeader/NamespaceUri`,
///   `RefAttachmentHeader/Archive` and `AsyncProcessingStatus/rout:RoutingStatus` are dropped;
/// * `AsyncProcessingStatus/StatusCategory` is mapped to the nearest value the target version
///   defines ([`InteractionStatus::as_str`]);
/// * `SmevFault/Code` is cut to 50 characters for 1.1 (`string-50` there, `string-100` later).
///
/// Nothing else differs between the versions' `SenderProvided*Data`. Note that the rewritten
/// element no longer matches the sender's `SenderInformationSystemSignature` (the namespaces are
/// part of what is digested); the business content's personal signature stays valid.
pub fn rewrite_sender_data(
    element: &Element<'_, '_>,
    from: SchemaVersion,
    to: SchemaVersion,
) -> String {
    if from == to {
        return standalone(element);
    }
    let mut r = Rewriter {
        from,
        to,
        out: String::with_capacity(element.source().len() + 256),
    };
    r.element(element, true);
    r.out
}

struct Rewriter {
    from: SchemaVersion,
    to: SchemaVersion,
    out: String,
}

/// Which SMEV namespace an element is in.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Space {
    Types,
    Basic,
    Faults,
    Routing,
    Directive,
}

impl Rewriter {
    fn space(&self, ns: Option<&str>) -> Option<Space> {
        let ns = ns?;
        let v = self.from;
        if ns == v.types_ns() {
            Some(Space::Types)
        } else if ns == v.basic_ns() {
            Some(Space::Basic)
        } else if ns == v.faults_ns() {
            Some(Space::Faults)
        } else if v == SchemaVersion::V1_3 && ns == ROUTING_NS_1_3 {
            Some(Space::Routing)
        } else if v == SchemaVersion::V1_3 && ns == DIRECTIVE_NS_1_3 {
            Some(Space::Directive)
        } else {
            None
        }
    }

    fn target_ns(&self, space: Space) -> &'static str {
        match space {
            Space::Types => self.to.types_ns(),
            Space::Basic => self.to.basic_ns(),
            Space::Faults => self.to.faults_ns(),
            Space::Routing => ROUTING_NS_1_3,
            Space::Directive => DIRECTIVE_NS_1_3,
        }
    }

    fn prefix(space: Space) -> &'static str {
        match space {
            Space::Types => "ns2:",
            Space::Basic => "",
            Space::Faults => "ns3:",
            Space::Routing => "ns4:",
            Space::Directive => "ns5:",
        }
    }

    /// Whether an SMEV element does not exist in the target version.
    fn dropped(&self, el: &Element<'_, '_>, space: Space) -> bool {
        if self.to == SchemaVersion::V1_3 {
            return false;
        }
        let parent = el.parent().map(|p| p.local_name()).unwrap_or("");
        match space {
            Space::Routing | Space::Directive => true,
            Space::Basic => matches!(
                (parent, el.local_name()),
                ("AttachmentHeader", "NamespaceUri" | "Archive")
                    | (
                        "RefAttachmentHeader",
                        "FileName" | "NamespaceUri" | "Archive"
                    )
            ),
            _ => false,
        }
    }

    fn element(&mut self, el: &Element<'_, '_>, root: bool) {
        let Some(space) = self.space(el.namespace()) else {
            self.out.push_str(&standalone(el));
            return;
        };
        if self.dropped(el, space) {
            return;
        }
        let name = format!("{}{}", Self::prefix(space), el.local_name());
        self.out.push('<');
        self.out.push_str(&name);
        if root {
            let to = self.to;
            self.out.push_str(&format!(
                " xmlns=\"{}\" xmlns:ns2=\"{}\" xmlns:ns3=\"{}\"",
                to.basic_ns(),
                to.types_ns(),
                to.faults_ns()
            ));
        }
        if space == Space::Routing && !root {
            self.out
                .push_str(&format!(" xmlns:ns4=\"{ROUTING_NS_1_3}\""));
        }
        if space == Space::Directive && !root {
            self.out
                .push_str(&format!(" xmlns:ns5=\"{DIRECTIVE_NS_1_3}\""));
        }
        self.attributes(el);
        self.out.push('>');
        let verbatim_children = space == Space::Basic && el.local_name() == "MessagePrimaryContent"
            || space == Space::Types && el.local_name() == "BusinessProcessMetadata";
        let mut children = el.children().peekable();
        if children.peek().is_some() {
            for child in children {
                if verbatim_children {
                    self.out.push_str(&standalone(&child));
                } else {
                    self.element(&child, false);
                }
            }
        } else {
            let text = el.text_content();
            let text = self.map_value(el, space, &text);
            self.out.push_str(&escape_text(&text));
        }
        self.out.push_str("</");
        self.out.push_str(&name);
        self.out.push('>');
    }

    fn map_value(&self, el: &Element<'_, '_>, space: Space, text: &str) -> String {
        match (space, el.local_name()) {
            (Space::Types, "StatusCategory") => InteractionStatus::from_code(text)
                .map(|s| s.as_str(self.to).to_owned())
                .unwrap_or_else(|| text.to_owned()),
            (Space::Basic, "Code") if self.to == SchemaVersion::V1_1 => {
                truncate_chars(text, 50).to_owned()
            }
            _ => text.to_owned(),
        }
    }

    fn attributes(&mut self, el: &Element<'_, '_>) {
        let tag = el.start_tag();
        let mut scope = el.inherited_scope();
        scope.extend(el.declarations().iter().cloned());
        let lookup = |prefix: &str| {
            scope
                .iter()
                .rev()
                .find(|b| &*b.prefix == prefix)
                .map(|b| b.uri.to_string())
        };
        let mut extra_prefixes = 0usize;
        for attr in &tag.attrs {
            match attr.ns.as_deref() {
                None => {
                    self.out
                        .push_str(&format!(" {}=\"{}\"", attr.local, escape_attr(&attr.value)));
                }
                Some(XSI_NS) if attr.local == "type" => {
                    let value = attr.value.trim();
                    let (prefix, local) = value.split_once(':').unwrap_or(("", value));
                    let uri = lookup(prefix).unwrap_or_default();
                    let qname = match self.space(Some(&uri)) {
                        Some(space) => {
                            let target = self.target_ns(space);
                            let p = Self::prefix(space);
                            if p.is_empty() {
                                local.to_owned()
                            } else {
                                // ns2/ns3 are declared on the root; ns4/ns5 only where used.
                                if matches!(space, Space::Routing | Space::Directive) {
                                    self.out.push_str(&format!(
                                        " xmlns:{}=\"{target}\"",
                                        p.trim_end_matches(':')
                                    ));
                                }
                                format!("{p}{local}")
                            }
                        }
                        None if uri.is_empty() => local.to_owned(),
                        None => {
                            extra_prefixes += 1;
                            let p = format!("q{extra_prefixes}");
                            self.out
                                .push_str(&format!(" xmlns:{p}=\"{}\"", escape_attr(&uri)));
                            format!("{p}:{local}")
                        }
                    };
                    self.out.push_str(&format!(
                        " xmlns:xsi=\"{XSI_NS}\" xsi:type=\"{}\"",
                        escape_attr(&qname)
                    ));
                }
                Some(XML_NS) => {
                    self.out.push_str(&format!(
                        " xml:{}=\"{}\"",
                        attr.local,
                        escape_attr(&attr.value)
                    ));
                }
                Some(ns) => {
                    extra_prefixes += 1;
                    let p = format!("q{extra_prefixes}");
                    self.out.push_str(&format!(
                        " xmlns:{p}=\"{}\" {p}:{}=\"{}\"",
                        escape_attr(ns),
                        attr.local,
                        escape_attr(&attr.value)
                    ));
                }
            }
        }
    }
}
