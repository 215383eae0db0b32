//! A form that runs a server function: the browser posts it as it is without JavaScript (the
//! server function then sends the browser back), and with JavaScript its fields become the
//! function's arguments ([`FormInput`]) and the page's action runs it in place.

use leptos::prelude::*;
use leptos::server_fn::codec::Postcard;
use leptos::server_fn::{Http, ServerFn};

use crate::api::{Form, FormInput};

#[component]
pub fn ServerForm<S>(
    action: ServerAction<S>,
    #[prop(optional)] class: Option<&'static str>,
    children: Children,
) -> impl IntoView
where
    S: FormInput + ServerFn<Protocol = Http<Form, Postcard>> + Clone + Send + Sync + 'static,
    S::Output: Send + Sync + 'static,
    S::Error: Send + Sync + 'static,
{
    let on_submit = move |ev: leptos::web_sys::SubmitEvent| {
        if ev.default_prevented() {
            return;
        }
        let form: leptos::web_sys::HtmlFormElement = event_target(&ev);
        let Ok(data) = leptos::web_sys::FormData::new_with_form(&form) else { return };
        // A form whose fields cannot be read goes as a plain post: the server answers it.
        if let Ok(input) = S::from_fields(|name| data.get(name).as_string()) {
            ev.prevent_default();
            action.dispatch(input);
        }
    };
    view! {
        <form method="post" action=S::url() class=class on:submit=on_submit>
            {children()}
        </form>
    }
}
