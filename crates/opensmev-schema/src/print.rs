//! Print forms: XSLT 1.0 stylesheets (libxslt, with EXSLT) registered with a kind of information
//! that render its business content as a document (usually HTML).
//!
//! A print form is checked when it is made (it must compile) and compiled again for each
//! application (they are small; libxslt's objects do not cross threads). While it runs nothing
//! is loaded (`xsl:import`, `xsl:include` and `document()` are refused) and files and the network
//! can be neither read nor written; libxslt's messages are collected, never printed.

use crate::engine;
use crate::error::SchemaError;

/// A checked print form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrintForm {
    text: String,
}

impl PrintForm {
    /// Checks that `text` is an XSLT stylesheet libxslt compiles.
    ///
    /// # Errors
    /// [`SchemaError::PrintForm`] with libxslt's (or libxml2's) messages.
    pub fn new(text: impl Into<String>) -> Result<PrintForm, SchemaError> {
        let text = text.into();
        engine::xslt(&text, None).map_err(SchemaError::PrintForm)?;
        Ok(PrintForm { text })
    }

    /// The stylesheet's text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Applies the form to `xml`: the result as the stylesheet's `xsl:output` serialises it.
    ///
    /// # Errors
    /// [`SchemaError::PrintForm`] when `xml` is not well-formed or the transformation fails.
    pub fn apply(&self, xml: &str) -> Result<String, SchemaError> {
        engine::xslt(&self.text, Some(xml)).map_err(SchemaError::PrintForm)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FORM: &str = r#"<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
        xmlns:p="urn://opensmev/demo/pfr-account/1.0.0" exclude-result-prefixes="p">
      <xsl:output method="html" encoding="UTF-8" omit-xml-declaration="yes"/>
      <xsl:template match="/p:PersonalAccountRequest">
        <div class="print"><h3>Запрос по СНИЛС <xsl:value-of select="p:Snils"/></h3>
          <p><xsl:value-of select="p:FamilyName"/><br/></p></div>
      </xsl:template>
    </xsl:stylesheet>"#;

    #[test]
    fn a_form_renders_escaped_html() {
        let form = PrintForm::new(FORM).unwrap();
        let out = form
            .apply(r#"<PersonalAccountRequest xmlns="urn://opensmev/demo/pfr-account/1.0.0"><Snils>112-233-445 95</Snils><FamilyName>&lt;script&gt;alert(1)&lt;/script&gt;</FamilyName></PersonalAccountRequest>"#)
            .unwrap();
        assert!(
            out.contains("<h3>Запрос по СНИЛС 112-233-445 95</h3>"),
            "{out}"
        );
        assert!(
            out.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{out}"
        );
        assert!(out.contains("<br>"), "HTML output, not XML: {out}");
    }

    #[test]
    fn bad_forms_and_documents_are_refused_with_a_reason() {
        let e = PrintForm::new("<xsl:stylesheet version='1.0' xmlns:xsl='http://www.w3.org/1999/XSL/Transform'><xsl:template match='/'><xsl:value-of select='((('/></xsl:template></xsl:stylesheet>").unwrap_err();
        assert!(
            matches!(&e, SchemaError::PrintForm(m) if !m.is_empty()),
            "{e}"
        );
        assert!(PrintForm::new("<not-xslt/>").is_err());
        assert!(PrintForm::new("not xml").is_err());
        let form = PrintForm::new(FORM).unwrap();
        assert!(form.apply("<unclosed>").is_err());
    }

    #[test]
    fn nothing_is_read_from_files_or_elsewhere() {
        for body in [
            "<xsl:copy-of select=\"document('/etc/passwd')\"/>",
            "<xsl:copy-of select=\"document('file:///etc/hostname')\"/>",
        ] {
            let form = PrintForm::new(format!(
                "<xsl:stylesheet version='1.0' xmlns:xsl='http://www.w3.org/1999/XSL/Transform'><xsl:template match='/'><r>{body}</r></xsl:template></xsl:stylesheet>"
            ))
            .unwrap();
            match form.apply("<a/>") {
                Ok(out) => assert!(!out.contains("root"), "{out}"),
                Err(e) => assert!(!e.to_string().contains("root:"), "{e}"),
            }
        }
        let import = PrintForm::new(
            "<xsl:stylesheet version='1.0' xmlns:xsl='http://www.w3.org/1999/XSL/Transform'><xsl:import href='/etc/other.xsl'/></xsl:stylesheet>",
        );
        assert!(import.is_err(), "imports are refused");
    }
}
