//! The embedded PT Sans faces: glyph lookup, advance widths and text clean-up for the layout.

use krilla::text::{Font, GlyphId, KrillaGlyph};
use skrifa::instance::{LocationRef, Size};
use skrifa::metrics::GlyphMetrics;
use skrifa::{FontRef, MetadataProvider};

use crate::PrintError;

/// PT Sans Regular (ParaType, Debian `fonts-paratype`, file `PTS55F.ttf`).
static REGULAR: &[u8] = include_bytes!("../fonts/PTSans-Regular.ttf");
/// PT Sans Bold (ParaType, Debian `fonts-paratype`, file `PTS75F.ttf`).
static BOLD: &[u8] = include_bytes!("../fonts/PTSans-Bold.ttf");

/// The character drawn in place of one the face has no glyph for.
const REPLACEMENT: char = '?';

/// One face: the krilla font that is embedded (subset) in the PDF and the skrifa view of the same
/// bytes that the layout measures with, so that measured and drawn widths agree exactly.
pub(crate) struct Face {
    /// The font handed to krilla for drawing.
    pub(crate) font: Font,
    charmap: skrifa::charmap::Charmap<'static>,
    metrics: GlyphMetrics<'static>,
    units_per_em: f32,
    /// The glyph and advance (in em) of [`REPLACEMENT`].
    fallback: (u32, f32),
}

impl std::fmt::Debug for Face {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Face")
            .field("units_per_em", &self.units_per_em)
            .finish_non_exhaustive()
    }
}

/// The two faces of a document.
#[derive(Debug)]
pub(crate) struct Faces {
    pub(crate) regular: Face,
    pub(crate) bold: Face,
}

impl Faces {
    /// Loads the embedded faces.
    pub(crate) fn load() -> Result<Self, PrintError> {
        Ok(Faces {
            regular: Face::new(REGULAR, "PTSans-Regular.ttf")?,
            bold: Face::new(BOLD, "PTSans-Bold.ttf")?,
        })
    }
}

impl Face {
    fn new(data: &'static [u8], name: &'static str) -> Result<Self, PrintError> {
        let font_ref = FontRef::new(data).map_err(|_| PrintError::Font(name))?;
        let font = Font::new(data.into(), 0).ok_or(PrintError::Font(name))?;
        let units_per_em = f32::from(
            font_ref
                .metrics(Size::unscaled(), LocationRef::default())
                .units_per_em,
        );
        if units_per_em <= 0.0 {
            return Err(PrintError::Font(name));
        }
        let mut face = Face {
            font,
            charmap: font_ref.charmap(),
            metrics: font_ref.glyph_metrics(Size::unscaled(), LocationRef::default()),
            units_per_em,
            fallback: (0, 0.5),
        };
        face.fallback = face.lookup(REPLACEMENT).ok_or(PrintError::Font(name))?;
        Ok(face)
    }

    /// The glyph id and advance width (in em) of `ch`, if the face has a glyph for it.
    fn lookup(&self, ch: char) -> Option<(u32, f32)> {
        let gid = self.charmap.map(ch)?;
        if gid.to_u32() == 0 {
            return None;
        }
        let advance = self.metrics.advance_width(gid).unwrap_or(0.0) / self.units_per_em;
        if !advance.is_finite() || advance < 0.0 {
            return None;
        }
        Some((gid.to_u32(), advance))
    }

    fn glyph(&self, ch: char) -> (u32, f32) {
        self.lookup(ch).unwrap_or(self.fallback)
    }

    /// Whether the face can draw `ch`.
    fn covers(&self, ch: char) -> bool {
        self.lookup(ch).is_some()
    }

    /// The width of `text` at `size` points (no kerning: drawing uses the same advances).
    pub(crate) fn width(&self, text: &str, size: f32) -> f32 {
        text.chars().map(|ch| self.glyph(ch).1).sum::<f32>() * size
    }

    /// The width of one character at `size` points.
    pub(crate) fn char_width(&self, ch: char, size: f32) -> f32 {
        self.glyph(ch).1 * size
    }

    /// The glyphs of one prepared line of text, ready for `Surface::draw_glyphs`.
    pub(crate) fn glyphs(&self, text: &str) -> Vec<KrillaGlyph> {
        text.char_indices()
            .map(|(at, ch)| {
                let (gid, advance) = self.glyph(ch);
                KrillaGlyph {
                    glyph_id: GlyphId::new(gid),
                    text_range: at..at + ch.len_utf8(),
                    x_advance: advance,
                    x_offset: 0.0,
                    y_offset: 0.0,
                    y_advance: 0.0,
                    location: None,
                }
            })
            .collect()
    }

    /// Cleans arbitrary text for this face: line breaks become `\n`, tabs spaces; other control
    /// and invisible format characters (zero-width, bidi controls, variation selectors, soft
    /// hyphen) are dropped; characters the face has no glyph for become `?`.
    pub(crate) fn prepare(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut chars = text.chars().peekable();
        while let Some(ch) = chars.next() {
            match ch {
                '\r' => {
                    if chars.peek() != Some(&'\n') {
                        out.push('\n');
                    }
                }
                '\n' | '\u{2028}' | '\u{2029}' | '\u{85}' => out.push('\n'),
                '\t' | '\u{0B}' | '\u{0C}' => out.push(' '),
                c if c.is_control() || is_invisible(c) => {}
                c if c.is_whitespace() => out.push(if self.covers(c) { c } else { ' ' }),
                c if self.covers(c) => out.push(c),
                _ => out.push(REPLACEMENT),
            }
        }
        out
    }
}

/// Invisible format characters that carry no ink and that fonts usually lack.
fn is_invisible(ch: char) -> bool {
    matches!(ch,
        '\u{AD}'
        | '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{206F}'
        | '\u{FE00}'..='\u{FE0F}'
        | '\u{FEFF}'
        | '\u{FFF9}'..='\u{FFFB}'
        | '\u{E0000}'..='\u{E0FFF}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faces_load_and_cover_cyrillic() {
        let faces = Faces::load().expect("embedded fonts load");
        for face in [&faces.regular, &faces.bold] {
            assert!("АБВабвЁёЙй№«»—–…·".chars().all(|c| face.covers(c)));
            assert!(face.width("Иванов", 10.0) > 20.0);
        }
    }

    #[test]
    fn prepare_strips_controls_and_replaces_missing_glyphs() {
        let faces = Faces::load().expect("embedded fonts load");
        let face = &faces.regular;
        assert_eq!(face.prepare("a\u{0}b\u{7}c"), "abc");
        assert_eq!(face.prepare("a\r\nb\rc\td"), "a\nb\nc d");
        assert_eq!(face.prepare("x\u{200B}y\u{FEFF}"), "xy");
        assert_eq!(face.prepare("ok 😀\u{FE0F}!"), "ok ?!");
        assert_eq!(face.prepare("Фамилия"), "Фамилия");
    }
}
