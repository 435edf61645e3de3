//! Column masks (DESIGN §3 rule 8) as DataFusion expressions.
//!
//! NULL stays NULL under every mask. The keyed hash is a [`ScalarUDF`] that
//! is embedded in the plan but never registered by name, because a callable
//! `hash(x)` would let a user hash guessed values and compare them with a
//! masked column.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, StringArray, StringBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility, cast,
    lit, when,
};
use hmac::{Hmac, Mac};
use policy_engine::model::ColumnMask;
use sha2::Sha256;

use crate::error::EngineError;

/// The expression that shows column `name` (of type `dt`) under `mask`.
/// `parse` parses an SQL expression against the table.
pub(crate) fn mask_expr(
    name: &str,
    dt: &DataType,
    mask: &ColumnMask,
    hash_key: &[u8],
    parse: &dyn Fn(&str) -> Result<Expr, EngineError>,
) -> Result<Expr, EngineError> {
    let c = col_ref(name);
    let if_not_null = |e: Expr| -> Result<Expr, EngineError> {
        when(c.clone().is_null(), lit(ScalarValue::Utf8(None)))
            .otherwise(e)
            .map_err(|e| EngineError::internal(format!("building mask: {e}")))
    };
    Ok(match mask {
        ColumnMask::Null => {
            let null = ScalarValue::try_from(dt).map_err(|e| {
                EngineError::internal(format!("no NULL of type `{dt}` for column `{name}`: {e}"))
            })?;
            lit(null)
        }
        ColumnMask::Redact => if_not_null(lit("REDACTED"))?,
        ColumnMask::Last4 => udf_call(Last4::new(), as_text(c.clone(), dt)),
        ColumnMask::Hash => udf_call(KeyedHash::new(hash_key), as_text(c.clone(), dt)),
        ColumnMask::Expr(sql) => {
            let e = parse(sql).map_err(|e| {
                EngineError::FailedPrecondition(format!(
                    "the mask `expr:{sql}` on column `{name}` does not parse ({e}); ask a data \
                     lake admin to fix the grant's mask"
                ))
            })?;
            when(c.clone().is_null(), lit(ScalarValue::Null))
                .otherwise(e)
                .map_err(|e| EngineError::internal(format!("building mask: {e}")))?
        }
    })
}

/// An unqualified reference to a column (no identifier normalisation).
pub(crate) fn col_ref(name: &str) -> Expr {
    Expr::Column(datafusion::common::Column::new_unqualified(name))
}

fn as_text(e: Expr, dt: &DataType) -> Expr {
    if dt == &DataType::Utf8 {
        e
    } else {
        cast(e, DataType::Utf8)
    }
}

fn udf_call(f: impl ScalarUDFImpl + 'static, arg: Expr) -> Expr {
    Expr::ScalarFunction(ScalarFunction::new_udf(
        Arc::new(ScalarUDF::new_from_impl(f)),
        vec![arg],
    ))
}

/// Applies a string function to a Utf8 argument, keeping NULLs.
fn map_strings(args: ScalarFunctionArgs, f: impl Fn(&str) -> String) -> DfResult<ColumnarValue> {
    let arrays = ColumnarValue::values_to_arrays(&args.args)?;
    let Some(arr) = arrays.first() else {
        return Err(DataFusionError::Internal(
            "mask called without argument".into(),
        ));
    };
    let Some(strings) = arr.as_any().downcast_ref::<StringArray>() else {
        return Err(DataFusionError::Internal(format!(
            "mask called with {} instead of Utf8",
            arr.data_type()
        )));
    };
    let mut b = StringBuilder::with_capacity(strings.len(), strings.value_data().len());
    for v in strings.iter() {
        match v {
            Some(s) => b.append_value(f(s)),
            None => b.append_null(),
        }
    }
    let out: ArrayRef = Arc::new(b.finish());
    Ok(ColumnarValue::Array(out))
}

/// Replaces letters and digits before the last four characters with `x`:
/// `123-45-6789` → `xxx-xx-6789`.
pub(crate) fn last4(s: &str) -> String {
    let n = s.chars().count();
    s.chars()
        .enumerate()
        .map(|(i, c)| {
            if i < n.saturating_sub(4) && c.is_alphanumeric() {
                'x'
            } else {
                c
            }
        })
        .collect()
}

/// Lower-case hex HMAC-SHA256 of `s` under `key`.
pub(crate) fn keyed_hash(key: &[u8], s: &str) -> String {
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mut m) => {
            m.update(s.as_bytes());
            hex::encode(m.finalize().into_bytes())
        }
        // HMAC accepts keys of any length; this arm is unreachable.
        Err(_) => String::new(),
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Last4 {
    signature: Signature,
}

impl Last4 {
    fn new() -> Self {
        Self {
            signature: Signature::exact(vec![DataType::Utf8], Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for Last4 {
    fn name(&self) -> &str {
        "lakegate_mask_last4"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        map_strings(args, last4)
    }
}

#[derive(PartialEq, Eq, Hash)]
struct KeyedHash {
    signature: Signature,
    key: Vec<u8>,
}

impl std::fmt::Debug for KeyedHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key.
        f.write_str("KeyedHash")
    }
}

impl KeyedHash {
    fn new(key: &[u8]) -> Self {
        Self {
            signature: Signature::exact(vec![DataType::Utf8], Volatility::Immutable),
            key: key.to_vec(),
        }
    }
}

impl ScalarUDFImpl for KeyedHash {
    fn name(&self) -> &str {
        "lakegate_mask_hash"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        map_strings(args, |s| keyed_hash(&self.key, s))
    }
}

/// Parses an SQL predicate or expression against a table schema.
pub(crate) fn parse_expr(
    state: &datafusion::execution::SessionState,
    sql: &str,
    schema: &DFSchema,
) -> Result<Expr, EngineError> {
    state
        .create_logical_expr(sql, schema)
        .map_err(|e| EngineError::invalid(format!("`{sql}`: {}", e.strip_backtrace())))
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        reason = "test code: a panic is a failed test"
    )]
    use super::*;

    #[test]
    fn last4_masks_letters_and_digits_only() {
        assert_eq!(last4("123-45-6789"), "xxx-xx-6789");
        assert_eq!(last4("abcd"), "abcd");
        assert_eq!(last4("a"), "a");
        assert_eq!(last4(""), "");
        assert_eq!(last4("4111 1111 1111 1234"), "xxxx xxxx xxxx 1234");
        assert_eq!(last4("é@b.c12345"), "x@x.xx2345");
    }

    #[test]
    fn keyed_hash_is_hex_and_keyed() {
        let a = keyed_hash(b"k1", "v");
        assert_eq!(a.len(), 64);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_eq!(a, keyed_hash(b"k1", "v"));
        assert_ne!(a, keyed_hash(b"k2", "v"));
    }
}
