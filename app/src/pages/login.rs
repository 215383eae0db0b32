use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::Login;
use crate::components::server_form::ServerForm;

#[component]
pub fn LoginPage() -> impl IntoView {
    let action = ServerAction::<Login>::new();
    let query = use_query_map();
    let next = move || query.read().get("next").unwrap_or_default();
    let error = move || {
        action
            .value()
            .get()
            .and_then(std::result::Result::err)
            .map(|e| view! { <p class="form-error" role="alert">{e.to_string()}</p> })
    };
    view! {
        <Title text="Sign in"/>
        <section class="panel login">
            <h1>"Sign in"</h1>
            <ServerForm action>
                <label for="username">"Username"</label>
                <input id="username" name="username" type="text" autocomplete="username" required/>
                <label for="password">"Password"</label>
                <input id="password" name="password" type="password" autocomplete="current-password" required/>
                // An attribute, not a property: the form is posted as it is without JavaScript too.
                <input type="hidden" name="next" value=next/>
                {error}
                <button type="submit" disabled=move || action.pending().get()>"Sign in"</button>
            </ServerForm>
        </section>
    }
}
