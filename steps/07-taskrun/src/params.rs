//! Parameters: the values a run gives its Task, and `$(params.<name>)` in the steps.
//!
//! A Task declares its parameters (a name, maybe a default); a TaskRun sets some of
//! them. Before the steps become containers, every `$(params.<name>)` in a script,
//! command, argument, environment value or working directory is replaced by the
//! run's value, else the default.
//!
//! Two rules keep this predictable. A mistake is an error, never a silent empty
//! string: a parameter with no value, a value for a parameter the Task does not
//! declare, or a reference to one it does not declare all fail the run with a message
//! naming the parameter. And the replacement happens once: a value that itself
//! contains `$(params.x)` is inserted as it is, so what a user types into a run can
//! never reach into other parameters.

use std::collections::BTreeMap;

use crds::{Param, ParamSpec};

/// The value of every parameter, by name.
pub type Values = BTreeMap<String, String>;

/// A parameter problem: the run cannot start, and says why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    #[error(
        "parameter {0:?} has no value: the run must set it, as the Task gives no default"
    )]
    Missing(String),
    #[error("the run sets parameter {0:?}, which the Task does not declare")]
    Unknown(String),
    #[error("$(params.{0}) refers to a parameter the Task does not declare")]
    Undeclared(String),
}

/// What a reference looks like: `$(params.` + the parameter's name + `)`.
const OPEN: &str = "$(params.";
const CLOSE: char = ')';

// ANCHOR: resolve
/// The value of each parameter the Task declares: the run's, else the Task's default.
pub fn resolve(
    declared: &[ParamSpec],
    given: &[Param],
) -> Result<Values, ParamError> {
    if let Some(unknown) = given
        .iter()
        .find(|param| !declared.iter().any(|spec| spec.name == param.name))
    {
        return Err(ParamError::Unknown(unknown.name.clone()));
    }
    declared
        .iter()
        .map(|spec| {
            let value = given
                .iter()
                .find(|param| param.name == spec.name)
                .map(|param| param.value.clone())
                .or_else(|| spec.default.clone())
                .ok_or_else(|| ParamError::Missing(spec.name.clone()))?;
            Ok((spec.name.clone(), value))
        })
        .collect()
}
// ANCHOR_END: resolve

// ANCHOR: substitute
/// Replaces every `$(params.<name>)` in `text` with the
/// parameter's value, in one pass.
///
/// Text that only looks like the start of a reference (`$(params.` with no
/// closing parenthesis) is kept as it is; a complete reference to a parameter
/// missing from `values` is an error.
pub fn substitute(text: &str, values: &Values) -> Result<String, ParamError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(OPEN) {
        out.push_str(&rest[..start]);
        let after = &rest[start + OPEN.len()..];
        let Some(end) = after.find(CLOSE) else {
            // Not a reference after all: keep the text.
            out.push_str(&rest[start..]);
            return Ok(out);
        };
        let name = &after[..end];
        let value = values
            .get(name)
            .ok_or_else(|| ParamError::Undeclared(name.to_string()))?;
        out.push_str(value);
        rest = &after[end + CLOSE.len_utf8()..];
    }
    out.push_str(rest);
    Ok(out)
}
// ANCHOR_END: substitute

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, default: Option<&str>) -> ParamSpec {
        ParamSpec {
            name: name.into(),
            description: None,
            default: default.map(String::from),
        }
    }

    fn values(pairs: &[(&str, &str)]) -> Values {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_run_value_wins_over_the_default() {
        let declared = [spec("who", Some("world")), spec("greeting", Some("Hello"))];
        let given = [Param::new("who", "workshop")];
        assert_eq!(
            resolve(&declared, &given),
            Ok(values(&[("who", "workshop"), ("greeting", "Hello")]))
        );
    }

    #[test]
    fn a_parameter_without_value_or_default_is_an_error() {
        let declared = [spec("who", None)];
        assert_eq!(
            resolve(&declared, &[]),
            Err(ParamError::Missing("who".into()))
        );
        assert_eq!(
            resolve(&declared, &[Param::new("who", "")]),
            Ok(values(&[("who", "")])),
            "an empty value is a value"
        );
    }

    #[test]
    fn a_value_for_an_undeclared_parameter_is_an_error() {
        let declared = [spec("who", Some("world"))];
        assert_eq!(
            resolve(&declared, &[Param::new("whom", "typo")]),
            Err(ParamError::Unknown("whom".into()))
        );
    }

    #[test]
    fn references_are_replaced() {
        let v = values(&[("who", "workshop"), ("n", "3")]);
        assert_eq!(
            substitute("echo \"Hello, $(params.who)!\"", &v),
            Ok("echo \"Hello, workshop!\"".into())
        );
        assert_eq!(
            substitute("$(params.n)$(params.n) and $(params.who)", &v),
            Ok("33 and workshop".into())
        );
        assert_eq!(substitute("no references", &v), Ok("no references".into()));
        assert_eq!(substitute("", &v), Ok("".into()));
    }

    #[test]
    fn a_reference_to_an_undeclared_parameter_is_an_error() {
        let v = values(&[("who", "workshop")]);
        assert_eq!(
            substitute("echo $(params.whom)", &v),
            Err(ParamError::Undeclared("whom".into()))
        );
    }

    #[test]
    fn text_that_only_looks_like_a_reference_is_kept() {
        let v = values(&[("who", "workshop")]);
        for text in [
            "echo $(params.who",
            "$(param.who)",
            "$(who)",
            "$params.who",
            "$(",
        ] {
            assert_eq!(substitute(text, &v), Ok(text.to_string()), "{text}");
        }
        // Shell syntax that is not ours passes through untouched.
        assert_eq!(
            substitute("echo $(date) $HOME ${who}", &v),
            Ok("echo $(date) $HOME ${who}".into())
        );
    }

    #[test]
    fn values_are_inserted_once_never_expanded_again() {
        let v = values(&[("a", "$(params.b)"), ("b", "secret")]);
        assert_eq!(substitute("$(params.a)", &v), Ok("$(params.b)".into()));
    }

    #[test]
    fn values_may_hold_any_text() {
        let v = values(&[("who", "Zoë ) $(x")]);
        assert_eq!(substitute("[$(params.who)]", &v), Ok("[Zoë ) $(x]".into()));
    }
}
