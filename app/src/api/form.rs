//! The arguments of the server functions that a page posts as a form (signing in, pinning):
//! a URL-encoded body, which is what a browser sends without JavaScript. The server reads it as
//! any URL-encoded form; the browser writes it from the form's fields by name
//! ([`FormInput`]), so the client bundle carries no general query-string (de)serializer.
//! The other server functions take their arguments in postcard.

use leptos::server_fn::ContentType;
use leptos::server_fn::codec::Encoding;

/// A server function's arguments as a form's URL-encoded body, posted.
pub struct Form;

impl ContentType for Form {
    const CONTENT_TYPE: &'static str = "application/x-www-form-urlencoded";
}

impl Encoding for Form {
    const METHOD: http::Method = http::Method::POST;
}

/// Arguments that travel as a form's fields: written to and read from `name=value` pairs, by
/// the names the form's inputs carry.
pub trait FormInput: Sized {
    /// The fields, in the form's names.
    fn to_fields(&self) -> Vec<(&'static str, String)>;
    /// The arguments from the fields `field` gives by name; a missing field is an error
    /// (a page's form always sends them all).
    fn from_fields(field: impl Fn(&str) -> Option<String>) -> Result<Self, String>;
}

/// `name=value&...`, each part percent-encoded (a form parser reads `%20` as `+`).
pub fn encode(fields: &[(&'static str, String)]) -> String {
    use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
    let mut body = String::new();
    for (name, value) in fields {
        if !body.is_empty() {
            body.push('&');
        }
        body.extend(utf8_percent_encode(name, NON_ALPHANUMERIC));
        body.push('=');
        body.extend(utf8_percent_encode(value, NON_ALPHANUMERIC));
    }
    body
}

pub(crate) fn required(field: &impl Fn(&str) -> Option<String>, name: &str) -> Result<String, String> {
    field(name).ok_or_else(|| format!("the form has no `{name}` field"))
}

/// The [`Form`] encoding of each form's arguments: written by [`FormInput`] in the browser,
/// read on the server as any URL-encoded form is.
macro_rules! form_encoded {
    ($($input:ty),*) => {$(
        impl<E, R> leptos::server_fn::codec::IntoReq<$crate::api::form::Form, R, E> for $input
        where
            E: leptos::server_fn::error::FromServerFnError,
            R: leptos::server_fn::request::ClientReq<E>,
        {
            fn into_req(self, path: &str, accepts: &str) -> Result<R, E> {
                use leptos::server_fn::ContentType;
                let body = $crate::api::form::encode(&$crate::api::form::FormInput::to_fields(&self));
                R::try_new_post(path, $crate::api::form::Form::CONTENT_TYPE, accepts, body)
            }
        }

        impl<E, R> leptos::server_fn::codec::FromReq<$crate::api::form::Form, R, E> for $input
        where
            E: leptos::server_fn::error::FromServerFnError,
            R: leptos::server_fn::request::Req<E> + Send + 'static,
        {
            async fn from_req(req: R) -> Result<Self, E> {
                <Self as leptos::server_fn::codec::FromReq<leptos::server_fn::codec::PostUrl, R, E>>::from_req(req).await
            }
        }
    )*};
}

pub(crate) use form_encoded;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Login, PinBuild};

    #[test]
    fn fields_are_encoded_as_a_form_and_read_back_by_name() {
        let login = Login { username: "ann é".into(), password: "p&ss=+%".into(), next: Some("/gh/a/b?x=1".into()) };
        let fields = login.to_fields();
        assert_eq!(encode(&fields), "username=ann%20%C3%A9&password=p%26ss%3D%2B%25&next=%2Fgh%2Fa%2Fb%3Fx%3D1");
        let read = Login::from_fields(|name| fields.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone())).unwrap();
        assert_eq!((read.username, read.password, read.next), (login.username, login.password, login.next));
    }

    #[test]
    fn a_missing_field_is_named() {
        let err = PinBuild::from_fields(|name| (name != "build_num").then(|| "x".to_owned())).err().unwrap();
        assert_eq!(err, "the form has no `build_num` field");
    }
}
