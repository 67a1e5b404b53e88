//! Russian renderings of the most common libxml2 schema-validity messages (the bus's faults are
//! Russian by default); a message of another shape is left to the caller to quote as it is.

/// The message in Russian, when it has one of the common shapes; `None` otherwise. Names and
/// values from the message are kept, in «» quotes.
pub fn message_ru(message: &str) -> Option<String> {
    let message = message.trim();
    let (subject, body) = split_subject(message)?;
    let body = body.trim();
    let text = translate_body(body)?;
    Some(match subject {
        Subject::Element(name) => format!("элемент «{name}»: {text}"),
        Subject::Attribute(name, attr) => {
            format!("элемент «{name}», атрибут «{attr}»: {text}")
        }
    })
}

enum Subject<'a> {
    Element(&'a str),
    Attribute(&'a str, &'a str),
}

/// `Element 'X': …` or `Element 'X', attribute 'Y': …`.
fn split_subject(message: &str) -> Option<(Subject<'_>, &str)> {
    let rest = message.strip_prefix("Element '")?;
    let (name, rest) = rest.split_once('\'')?;
    if let Some(body) = rest.strip_prefix(": ") {
        return Some((Subject::Element(name), body));
    }
    let rest = rest.strip_prefix(", attribute '")?;
    let (attr, rest) = rest.split_once('\'')?;
    let body = rest.strip_prefix(": ")?;
    Some((Subject::Attribute(name, attr), body))
}

/// The text between the first `'` and the next `'` after `after`.
fn quoted_after<'a>(text: &'a str, after: &str) -> Option<&'a str> {
    let start = text.find(after)? + after.len();
    let rest = text.get(start..)?;
    let rest = rest.strip_prefix('\'')?;
    Some(&rest[..rest.find('\'')?])
}

/// `( a, b )` of `Expected is ( … ).` / `Expected is one of ( … ).`.
fn expected(body: &str) -> Option<String> {
    let start = body.find('(')?;
    let end = body.rfind(')')?;
    let list = body.get(start + 1..end)?.trim();
    Some(
        list.split(", ")
            .map(|n| format!("«{}»", n.trim()))
            .collect::<Vec<_>>()
            .join(", "),
    )
}

fn translate_body(body: &str) -> Option<String> {
    if let Some(rest) = body.strip_prefix("This element is not expected.") {
        return Some(match expected(rest) {
            Some(list) if !rest.trim().is_empty() => {
                format!("элемент здесь не ожидается; ожидается: {list}")
            }
            _ => "элемент здесь не ожидается".to_owned(),
        });
    }
    if let Some(rest) = body.strip_prefix("Missing child element(s).") {
        return Some(match expected(rest) {
            Some(list) => format!("не хватает дочерних элементов; ожидается: {list}"),
            None => "не хватает дочерних элементов".to_owned(),
        });
    }
    if body.starts_with("[facet 'pattern']") {
        let value = quoted_after(body, "The value ")?;
        let pattern = quoted_after(body, "by the pattern ")?;
        return Some(format!(
            "значение «{value}» не соответствует шаблону «{pattern}»"
        ));
    }
    if body.starts_with("[facet 'enumeration']") {
        let value = quoted_after(body, "The value ")?;
        let set = body
            .find('{')
            .and_then(|s| body.rfind('}').map(|e| &body[s + 1..e]))?;
        let items: Vec<String> = set
            .split(", ")
            .map(|i| format!("«{}»", i.trim().trim_matches('\'')))
            .collect();
        return Some(format!(
            "значение «{value}» не входит в допустимый набор: {}",
            items.join(", ")
        ));
    }
    for (facet, what) in [
        ("[facet 'length']", "длина значения {n} вместо {m}"),
        (
            "[facet 'maxLength']",
            "длина значения {n} больше допустимой {m}",
        ),
        (
            "[facet 'minLength']",
            "длина значения {n} меньше допустимой {m}",
        ),
    ] {
        if body.starts_with(facet) {
            let n = quoted_after(body, "length of ")?;
            let m = body
                .rfind("length of '")
                .and_then(|i| quoted_after(&body[i..], "length of "))?;
            return Some(what.replace("{n}", n).replace("{m}", m));
        }
    }
    if let Some(rest) = body.strip_prefix('\'')
        && let Some((value, tail)) = rest.split_once("' is not a valid value of the ")
    {
        let ty = quoted_after(tail, "type ").map(|t| format!(" «{t}»"));
        return Some(format!(
            "«{value}» не является допустимым значением типа{}",
            ty.unwrap_or_default()
        ));
    }
    if let Some(rest) = body.strip_prefix("The attribute '")
        && let Some((attr, tail)) = rest.split_once('\'')
    {
        if tail.starts_with(" is required but missing") {
            return Some(format!("обязательный атрибут «{attr}» отсутствует"));
        }
        if tail.starts_with(" is not allowed") {
            return Some(format!("атрибут «{attr}» не допускается"));
        }
    }
    if body.starts_with("No matching global declaration available for the validation root") {
        return Some("корневой элемент не объявлен в схеме".to_owned());
    }
    if body.starts_with("Character content other than whitespace is not allowed") {
        return Some("текст внутри элемента не допускается (только дочерние элементы)".to_owned());
    }
    if body.starts_with("Element content is not allowed, because the content type is a simple type")
    {
        return Some("дочерние элементы не допускаются (элемент простого типа)".to_owned());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::message_ru;

    #[test]
    fn common_shapes_are_translated() {
        let cases = [
            (
                "Element '{urn:x}B': This element is not expected. Expected is ( {urn:x}A ).",
                "элемент «{urn:x}B»: элемент здесь не ожидается; ожидается: «{urn:x}A»",
            ),
            (
                "Element '{urn:x}R': Missing child element(s). Expected is one of ( {urn:x}A, {urn:x}C ).",
                "элемент «{urn:x}R»: не хватает дочерних элементов; ожидается: «{urn:x}A», «{urn:x}C»",
            ),
            (
                "Element '{urn:x}S': [facet 'pattern'] The value 'ab' is not accepted by the pattern '\\d{10}'.",
                "элемент «{urn:x}S»: значение «ab» не соответствует шаблону «\\d{10}»",
            ),
            (
                "Element '{urn:x}S': [facet 'maxLength'] The value has a length of '12'; this exceeds the allowed maximum length of '10'.",
                "элемент «{urn:x}S»: длина значения 12 больше допустимой 10",
            ),
            (
                "Element '{urn:x}N': 'x' is not a valid value of the atomic type 'xs:int'.",
                "элемент «{urn:x}N»: «x» не является допустимым значением типа «xs:int»",
            ),
            (
                "Element '{urn:x}E': [facet 'enumeration'] The value 'c' is not an element of the set {'a', 'b'}.",
                "элемент «{urn:x}E»: значение «c» не входит в допустимый набор: «a», «b»",
            ),
        ];
        for (en, ru) in cases {
            assert_eq!(message_ru(en).as_deref(), Some(ru), "{en}");
        }
        assert_eq!(message_ru("something else entirely"), None);
    }
}
