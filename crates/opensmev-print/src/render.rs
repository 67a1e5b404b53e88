//! Drawing a laid-out document with krilla.

use krilla::color::rgb;
use krilla::geom::{PathBuilder, Point, Size};
use krilla::metadata::Metadata;
use krilla::num::NormalizedF32;
use krilla::page::PageSettings;
use krilla::paint::{Fill, Stroke};
use krilla::surface::Surface;
use krilla::{Document as PdfDocument, SerializeSettings};

use crate::PrintError;
use crate::font::Faces;
use crate::layout::{
    CONTENT_WIDTH, FOOTER, Layout, MARGIN, Op, PAGE_HEIGHT, PAGE_WIDTH, RULE_DARK, Style,
    page_number,
};

/// Serialises `layout` as a PDF with the document title `title` (already cleaned).
pub(crate) fn render(layout: &Layout, faces: &Faces, title: &str) -> Result<Vec<u8>, PrintError> {
    let settings = SerializeSettings {
        enable_tagging: false,
        ..SerializeSettings::default()
    };
    let mut pdf = PdfDocument::new_with(settings);
    let mut metadata = Metadata::new()
        .language("ru".to_owned())
        .creator("OpenSMEV".to_owned())
        .producer("OpenSMEV (krilla)".to_owned());
    if !title.is_empty() {
        metadata = metadata.title(title.to_owned());
    }
    pdf.set_metadata(metadata);

    let size = Size::from_wh(PAGE_WIDTH, PAGE_HEIGHT)
        .ok_or_else(|| PrintError::Pdf("invalid page size".to_owned()))?;
    let total = layout.pages.len();
    for (index, bands) in layout.pages.iter().enumerate() {
        let mut page = pdf.start_page_with(PageSettings::new(size));
        let mut surface = page.surface();
        for (top, band) in bands {
            for op in &band.ops {
                match op {
                    Op::Text { x, dy, style, text } => {
                        draw_text(&mut surface, faces, *style, *x, top + dy, text);
                    }
                    Op::Rule {
                        x0,
                        x1,
                        dy,
                        width,
                        color,
                    } => draw_rule(&mut surface, *x0, *x1, top + dy, *width, *color),
                }
            }
        }
        draw_footer(&mut surface, faces, layout, index + 1, total);
        surface.finish();
        page.finish();
    }
    pdf.finish().map_err(|e| PrintError::Pdf(e.to_string()))
}

fn fill(color: [u8; 3]) -> Fill {
    Fill {
        paint: rgb::Color::new(color[0], color[1], color[2]).into(),
        opacity: NormalizedF32::ONE,
        rule: Default::default(),
    }
}

fn draw_text(
    surface: &mut Surface<'_>,
    faces: &Faces,
    style: Style,
    x: f32,
    baseline: f32,
    text: &str,
) {
    if text.is_empty() {
        return;
    }
    let face = style.face(faces);
    let glyphs = face.glyphs(text);
    surface.set_fill(Some(fill(style.color)));
    surface.draw_glyphs(
        Point::from_xy(x, baseline),
        &glyphs,
        face.font.clone(),
        text,
        style.size,
        false,
    );
}

fn draw_rule(surface: &mut Surface<'_>, x0: f32, x1: f32, y: f32, width: f32, color: [u8; 3]) {
    let mut path = PathBuilder::new();
    path.move_to(x0, y);
    path.line_to(x1, y);
    let Some(path) = path.finish() else {
        return;
    };
    surface.set_fill(None);
    surface.set_stroke(Some(Stroke {
        paint: rgb::Color::new(color[0], color[1], color[2]).into(),
        width,
        ..Stroke::default()
    }));
    surface.draw_path(&path);
    // Text is drawn with the fill only.
    surface.set_stroke(None);
}

/// The footer: a rule, the caller's text on the left, "стр. N из M" on the right.
fn draw_footer(
    surface: &mut Surface<'_>,
    faces: &Faces,
    layout: &Layout,
    page: usize,
    pages: usize,
) {
    let top = layout.footer_top;
    draw_rule(
        surface,
        MARGIN,
        MARGIN + CONTENT_WIDTH,
        top - 4.0,
        0.5,
        RULE_DARK,
    );
    let style = FOOTER;
    let line_height = style.line_height();
    for (i, line) in layout.footer.iter().enumerate() {
        let baseline = top + i as f32 * line_height + style.baseline();
        draw_text(surface, faces, style, MARGIN, baseline, line);
    }
    let number = page_number(page, pages);
    let width = style.face(faces).width(&number, style.size);
    let x = MARGIN + CONTENT_WIDTH - width;
    draw_text(surface, faces, style, x, top + style.baseline(), &number);
}
