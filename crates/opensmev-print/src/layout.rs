//! Page layout: word wrapping by measured widths, bands of lines and pagination.

use crate::font::{Face, Faces};
use crate::{Block, Document};

/// A4 width in points.
pub(crate) const PAGE_WIDTH: f32 = 595.276;
/// A4 height in points.
pub(crate) const PAGE_HEIGHT: f32 = 841.89;
/// 20 mm in points.
pub(crate) const MARGIN: f32 = 56.693;
/// Width between the margins.
pub(crate) const CONTENT_WIDTH: f32 = PAGE_WIDTH - 2.0 * MARGIN;
/// The narrowest column text is wrapped into (guards against degenerate widths).
const MIN_COLUMN: f32 = 24.0;
/// Indentation of a section's body per nesting level.
const INDENT_STEP: f32 = 14.0;
/// The deepest indentation, as a share of the content width, whatever the nesting.
const MAX_INDENT_SHARE: f32 = 0.3;
/// The label column's share of a row's width.
const LABEL_SHARE: f32 = 0.4;
/// Space between the label and value columns.
const GUTTER: f32 = 12.0;
/// Padding above and below the text of a row.
const ROW_PAD: f32 = 3.0;
/// Space above a section title.
const SECTION_GAP: f32 = 8.0;
/// Space between the footer and the body.
const FOOTER_GAP: f32 = 10.0;
/// The most lines a footer may take.
const FOOTER_MAX_LINES: usize = 3;
/// Line height as a multiple of the font size.
const LEADING: f32 = 1.3;

/// Colours (RGB).
pub(crate) const BLACK: [u8; 3] = [0, 0, 0];
/// Labels.
pub(crate) const MUTED: [u8; 3] = [96, 96, 96];
/// The footer.
pub(crate) const FAINT: [u8; 3] = [120, 120, 120];
/// Row separators.
pub(crate) const RULE_LIGHT: [u8; 3] = [215, 215, 215];
/// The rule under the heading and above the footer.
pub(crate) const RULE_DARK: [u8; 3] = [150, 150, 150];

/// How a piece of text looks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Style {
    pub(crate) bold: bool,
    pub(crate) size: f32,
    pub(crate) color: [u8; 3],
}

const TITLE: Style = Style {
    bold: true,
    size: 16.0,
    color: BLACK,
};
const META_LABEL: Style = Style {
    bold: false,
    size: 9.5,
    color: MUTED,
};
const META_VALUE: Style = Style {
    bold: false,
    size: 9.5,
    color: BLACK,
};
const SECTION: Style = Style {
    bold: true,
    size: 11.0,
    color: BLACK,
};
const LABEL: Style = Style {
    bold: false,
    size: 10.0,
    color: MUTED,
};
const VALUE: Style = Style {
    bold: false,
    size: 10.0,
    color: BLACK,
};
pub(crate) const FOOTER: Style = Style {
    bold: false,
    size: 8.0,
    color: FAINT,
};

impl Style {
    pub(crate) fn face<'a>(&self, faces: &'a Faces) -> &'a Face {
        if self.bold {
            &faces.bold
        } else {
            &faces.regular
        }
    }

    pub(crate) fn line_height(&self) -> f32 {
        self.size * LEADING
    }

    /// The baseline's distance from the top of a line box.
    pub(crate) fn baseline(&self) -> f32 {
        // Centres the ink of PT Sans (ascender about 0.72 em, descender 0.28 em) in the box.
        self.size * (0.72 + (LEADING - 1.0) / 2.0)
    }
}

/// Something drawn inside a band, positioned relative to the band's top.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Op {
    /// A line of prepared text at `x` with its baseline `dy` below the band's top.
    Text {
        x: f32,
        dy: f32,
        style: Style,
        text: String,
    },
    /// A horizontal rule from `x0` to `x1`, `dy` below the band's top.
    Rule {
        x0: f32,
        x1: f32,
        dy: f32,
        width: f32,
        color: [u8; 3],
    },
}

/// A horizontal slice of the page that is never split: one line of a row, say.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Band {
    pub(crate) height: f32,
    pub(crate) ops: Vec<Op>,
}

/// Bands that should stay on one page if they fit on one.
#[derive(Debug, Default)]
struct Unit {
    bands: Vec<Band>,
    /// Keep the unit on the page of the next one's start (section titles).
    keep_with_next: bool,
}

impl Unit {
    fn height(&self) -> f32 {
        self.bands.iter().map(|b| b.height).sum()
    }
}

/// A laid-out page: bands with their top positions.
pub(crate) type Page = Vec<(f32, Band)>;

/// The result of the layout.
#[derive(Debug)]
pub(crate) struct Layout {
    pub(crate) pages: Vec<Page>,
    /// The footer text wrapped (page numbers are drawn right-aligned on its first line).
    pub(crate) footer: Vec<String>,
    /// The top of the footer area.
    pub(crate) footer_top: f32,
}

/// The page-number text of the footer.
pub(crate) fn page_number(page: usize, pages: usize) -> String {
    format!("стр. {page} из {pages}")
}

/// Lays `doc` out on pages.
pub(crate) fn layout(doc: &Document, faces: &Faces) -> Layout {
    let footer_style = FOOTER;
    let footer_face = footer_style.face(faces);
    // The page-number column is sized for the widest number we could print.
    let number_width = footer_face.width(&page_number(88888, 88888), footer_style.size);
    let footer = match &doc.footer {
        Some(text) => {
            let text = footer_face.prepare(text);
            let width = (CONTENT_WIDTH - number_width - GUTTER).max(MIN_COLUMN);
            let mut lines = wrap(footer_face, footer_style.size, &text, width);
            lines.retain(|l| !l.trim().is_empty());
            if lines.len() > FOOTER_MAX_LINES {
                lines.truncate(FOOTER_MAX_LINES);
                if let Some(last) = lines.last_mut() {
                    *last = ellipsize(footer_face, footer_style.size, last, width);
                }
            }
            lines
        }
        None => Vec::new(),
    };
    let footer_lines = footer.len().max(1) as f32;
    let footer_top = PAGE_HEIGHT - MARGIN - footer_lines * footer_style.line_height();
    let body_bottom = footer_top - FOOTER_GAP;

    let units = units(doc, faces);
    Layout {
        pages: paginate(units, MARGIN, body_bottom),
        footer,
        footer_top,
    }
}

/// Turns the document into units: the heading, the meta rows, then the body depth-first.
fn units(doc: &Document, faces: &Faces) -> Vec<Unit> {
    let mut units = Vec::new();
    let title = TITLE.face(faces).prepare(&doc.title);
    let mut heading = Unit::default();
    if !title.trim().is_empty() {
        for line in wrap(TITLE.face(faces), TITLE.size, &title, CONTENT_WIDTH) {
            heading.bands.push(Band {
                height: TITLE.line_height(),
                ops: vec![Op::Text {
                    x: MARGIN,
                    dy: TITLE.baseline(),
                    style: TITLE,
                    text: line,
                }],
            });
        }
        heading.bands.push(Band {
            height: 6.0,
            ops: Vec::new(),
        });
    }
    // The title stays with the first meta row (or the first body line).
    heading.keep_with_next = true;
    if !heading.bands.is_empty() {
        units.push(heading);
    }
    for (label, value) in &doc.meta {
        units.push(row(faces, 0.0, label, value, META_LABEL, META_VALUE, false));
    }
    if !units.is_empty() {
        units.push(Unit {
            bands: vec![Band {
                height: 14.0,
                ops: vec![Op::Rule {
                    x0: MARGIN,
                    x1: MARGIN + CONTENT_WIDTH,
                    dy: 4.0,
                    width: 0.8,
                    color: RULE_DARK,
                }],
            }],
            keep_with_next: false,
        });
    }

    // Depth-first without recursion, so no nesting depth can exhaust the stack.
    let mut stack: Vec<(std::slice::Iter<'_, Block>, usize)> = vec![(doc.body.iter(), 0)];
    while let Some((iter, depth)) = stack.last_mut() {
        let depth = *depth;
        let Some(block) = iter.next() else {
            stack.pop();
            continue;
        };
        let indent = (depth as f32 * INDENT_STEP).min(CONTENT_WIDTH * MAX_INDENT_SHARE);
        match block {
            Block::Row { label, value } => {
                units.push(row(faces, indent, label, value, LABEL, VALUE, true));
            }
            Block::Section { title, body } => {
                units.push(section_title(faces, indent, title));
                stack.push((body.iter(), depth + 1));
            }
        }
    }
    units
}

fn section_title(faces: &Faces, indent: f32, title: &str) -> Unit {
    let face = SECTION.face(faces);
    let text = face.prepare(title);
    let x = MARGIN + indent;
    let width = (CONTENT_WIDTH - indent).max(MIN_COLUMN);
    let mut bands: Vec<Band> = wrap(face, SECTION.size, &text, width)
        .into_iter()
        .map(|line| Band {
            height: SECTION.line_height(),
            ops: vec![Op::Text {
                x,
                dy: SECTION.baseline(),
                style: SECTION,
                text: line,
            }],
        })
        .collect();
    if let Some(first) = bands.first_mut() {
        first.height += SECTION_GAP;
        for op in &mut first.ops {
            if let Op::Text { dy, .. } = op {
                *dy += SECTION_GAP;
            }
        }
    }
    Unit {
        bands,
        keep_with_next: true,
    }
}

/// A label–value row: two wrapped columns, one band per line, a separator below.
fn row(
    faces: &Faces,
    indent: f32,
    label: &str,
    value: &str,
    label_style: Style,
    value_style: Style,
    separator: bool,
) -> Unit {
    let x0 = MARGIN + indent;
    let width = CONTENT_WIDTH - indent;
    let label_width = (width * LABEL_SHARE - GUTTER / 2.0).max(MIN_COLUMN);
    let value_x = x0 + width * LABEL_SHARE + GUTTER / 2.0;
    let value_width = (MARGIN + CONTENT_WIDTH - value_x).max(MIN_COLUMN);

    let label_face = label_style.face(faces);
    let value_face = value_style.face(faces);
    let labels = wrap(
        label_face,
        label_style.size,
        &label_face.prepare(label),
        label_width,
    );
    let values = wrap(
        value_face,
        value_style.size,
        &value_face.prepare(value),
        value_width,
    );
    let lines = labels.len().max(values.len()).max(1);
    let line_height = label_style.line_height().max(value_style.line_height());
    let mut labels = labels.into_iter();
    let mut values = values.into_iter();
    let mut bands = Vec::with_capacity(lines);
    for i in 0..lines {
        let top = if i == 0 { ROW_PAD } else { 0.0 };
        let bottom = if i + 1 == lines { ROW_PAD } else { 0.0 };
        let mut ops = Vec::with_capacity(3);
        if let Some(text) = labels.next().filter(|t| !t.is_empty()) {
            ops.push(Op::Text {
                x: x0,
                dy: top + label_style.baseline(),
                style: label_style,
                text,
            });
        }
        if let Some(text) = values.next().filter(|t| !t.is_empty()) {
            ops.push(Op::Text {
                x: value_x,
                dy: top + value_style.baseline(),
                style: value_style,
                text,
            });
        }
        let height = top + line_height + bottom;
        if separator && i + 1 == lines {
            ops.push(Op::Rule {
                x0,
                x1: MARGIN + CONTENT_WIDTH,
                dy: height - 0.25,
                width: 0.5,
                color: RULE_LIGHT,
            });
        }
        bands.push(Band { height, ops });
    }
    Unit {
        bands,
        keep_with_next: false,
    }
}

/// Places units on pages between `top` and `bottom`: a unit that fits on a page is never split;
/// a longer one flows band by band. A unit marked `keep_with_next` moves to the next page with
/// the start of the following unit.
fn paginate(units: Vec<Unit>, top: f32, bottom: f32) -> Vec<Page> {
    let body = bottom - top;
    // What each unit needs to start on a page: all of it if it fits on one, else its first band.
    let needs: Vec<f32> = units
        .iter()
        .map(|u| {
            let h = u.height();
            if h <= body {
                h
            } else {
                u.bands.first().map_or(0.0, |b| b.height)
            }
        })
        .collect();
    let keeps: Vec<bool> = units.iter().map(|u| u.keep_with_next).collect();
    let mut pages: Vec<Page> = Vec::new();
    let mut page: Page = Vec::new();
    let mut y = top;
    for (i, unit) in units.into_iter().enumerate() {
        // A kept unit (a section title) wants the chain of kept units after it and the start
        // of the first other one on the same page, unless that cannot fit on any page.
        let mut need = needs[i];
        let mut j = i;
        while keeps[j] && j + 1 < needs.len() {
            j += 1;
            need += needs[j];
        }
        if need > body {
            need = needs[i];
        }
        if y + need > bottom && !page.is_empty() {
            pages.push(std::mem::take(&mut page));
            y = top;
        }
        for band in unit.bands {
            if y + band.height > bottom && !page.is_empty() {
                pages.push(std::mem::take(&mut page));
                y = top;
            }
            let height = band.height;
            page.push((y, band));
            y += height;
        }
    }
    if !page.is_empty() || pages.is_empty() {
        pages.push(page);
    }
    pages
}

/// Wraps prepared `text` into lines no wider than `width` at `size` points: at spaces first,
/// by characters inside words longer than a line. Each `\n` starts a new line.
pub(crate) fn wrap(face: &Face, size: f32, text: &str, width: f32) -> Vec<String> {
    let width = width.max(MIN_COLUMN);
    let space = face.char_width(' ', size);
    let mut lines = Vec::new();
    for paragraph in text.trim_end_matches('\n').split('\n') {
        let mut line = String::new();
        let mut line_width = 0.0;
        let mut any = false;
        for word in paragraph.split(' ').filter(|w| !w.is_empty()) {
            any = true;
            let word_width = face.width(word, size);
            if !line.is_empty() && line_width + space + word_width <= width {
                line.push(' ');
                line.push_str(word);
                line_width += space + word_width;
                continue;
            }
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
                line_width = 0.0;
            }
            if word_width <= width {
                line.push_str(word);
                line_width = word_width;
                continue;
            }
            // A word longer than a line (Base64, ids): break it by characters.
            for ch in word.chars() {
                let w = face.char_width(ch, size);
                if !line.is_empty() && line_width + w > width {
                    lines.push(std::mem::take(&mut line));
                    line_width = 0.0;
                }
                line.push(ch);
                line_width += w;
            }
        }
        if !line.is_empty() || !any {
            lines.push(line);
        }
    }
    lines
}

/// Shortens `line` so that it and a trailing ellipsis fit in `width`.
fn ellipsize(face: &Face, size: f32, line: &str, width: f32) -> String {
    let ellipsis = '…';
    let budget = width - face.char_width(ellipsis, size);
    let mut out = String::new();
    let mut used = 0.0;
    for ch in line.chars() {
        let w = face.char_width(ch, size);
        if used + w > budget {
            break;
        }
        out.push(ch);
        used += w;
    }
    let trimmed = out.trim_end().len();
    out.truncate(trimmed);
    out.push(ellipsis);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn faces() -> Faces {
        Faces::load().expect("embedded fonts load")
    }

    #[test]
    fn wrap_keeps_lines_within_width() {
        let faces = faces();
        let face = &faces.regular;
        let text =
            "Сведения о трудовой деятельности застрахованного лица за период с 2020 по 2026 год";
        let lines = wrap(face, 10.0, text, 120.0);
        assert!(lines.len() > 2, "{lines:?}");
        for line in &lines {
            assert!(face.width(line, 10.0) <= 120.0, "{line}");
        }
        assert_eq!(lines.join(" "), text);
    }

    #[test]
    fn wrap_breaks_long_words_by_characters() {
        let faces = faces();
        let face = &faces.regular;
        let word = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=".repeat(20);
        let lines = wrap(face, 10.0, &format!("id: {word}"), 150.0);
        assert_eq!(lines[0], "id:");
        assert!(lines.len() > 5);
        for line in &lines {
            assert!(face.width(line, 10.0) <= 150.0);
        }
        assert_eq!(lines[1..].concat(), word);
    }

    #[test]
    fn wrap_keeps_hard_breaks_and_empty_text() {
        let faces = faces();
        let face = &faces.regular;
        assert_eq!(wrap(face, 10.0, "", 100.0), vec![String::new()]);
        assert_eq!(wrap(face, 10.0, "a\n\nb\n", 100.0), vec!["a", "", "b"]);
    }

    #[test]
    fn rows_are_not_split_unless_longer_than_a_page() {
        let faces = faces();
        let doc = Document {
            title: "T".into(),
            meta: Vec::new(),
            body: (0..200)
                .map(|i| Block::Row {
                    label: format!("Поле {i}"),
                    value: "слово ".repeat(i % 40),
                })
                .collect(),
            footer: None,
        };
        let layout = layout(&doc, &faces);
        assert!(layout.pages.len() > 2);
        for page in &layout.pages {
            for (y, band) in page {
                assert!(*y >= MARGIN && y + band.height <= layout.footer_top);
            }
            // A row's first band carries its label; every page must start with a row's first
            // band (the top padding), since no row here is longer than a page.
            let (_, first) = &page[0];
            assert!(
                first
                    .ops
                    .iter()
                    .any(|op| matches!(op, Op::Text { style, .. } if *style == LABEL))
                    || first
                        .ops
                        .iter()
                        .any(|op| matches!(op, Op::Text { style, .. } if *style == TITLE)),
                "{first:?}"
            );
        }
    }

    #[test]
    fn section_titles_are_not_orphaned() {
        let faces = faces();
        let mut body = Vec::new();
        for s in 0..30 {
            body.push(Block::Section {
                title: format!("Раздел {s}"),
                body: (0..7)
                    .map(|i| Block::Row {
                        label: format!("Поле {i}"),
                        value: "значение".into(),
                    })
                    .collect(),
            });
        }
        let doc = Document {
            title: String::new(),
            meta: Vec::new(),
            body,
            footer: Some("подвал".into()),
        };
        let layout = layout(&doc, &faces);
        assert!(layout.pages.len() > 1);
        for page in &layout.pages {
            let (_, last) = page.last().expect("non-empty page");
            assert!(
                !last
                    .ops
                    .iter()
                    .any(|op| matches!(op, Op::Text { style, .. } if *style == SECTION)),
                "a section title ends a page"
            );
        }
    }
}
