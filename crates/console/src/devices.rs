//! The device register: stations and subnets, and the group of a shared device.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use ward_store::{DeviceId, NewDevice};

use crate::auth::CurrentUser;
use crate::layout::{Layout, render};
use crate::roles::Permission;
use crate::{AppError, AppState};

#[derive(Template)]
#[template(path = "devices.html")]
struct DevicesPage {
    layout: Layout,
    devices: Vec<ward_store::Device>,
    groups: Vec<ward_store::Group>,
}

/// `GET /devices`.
pub async fn devices(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<Response, AppError> {
    user.require(Permission::ManageDevices)?;
    let store = state.store();
    let page = DevicesPage {
        layout: Layout::for_user(&state, &user, "Devices").await,
        devices: store.devices(user.account.school).await?,
        groups: store.groups(user.account.school).await?,
    };
    render(&page)
}

/// The add-device form.
#[derive(Debug, Deserialize)]
pub struct DeviceForm {
    name: String,
    network: String,
    #[serde(default)]
    group: String,
    #[serde(default)]
    location: String,
}

/// `POST /devices`.
pub async fn add_device(
    State(state): State<AppState>,
    user: CurrentUser,
    axum::Form(form): axum::Form<DeviceForm>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageDevices)?;
    let store = state.store();
    let school = user.account.school;
    let network = form.network.parse()?;
    let group = match form.group.trim() {
        "" => None,
        name => Some(
            store
                .groups(school)
                .await?
                .into_iter()
                .find(|group| group.name == name)
                .ok_or_else(|| AppError::BadRequest(format!("There is no group {name:?}.")))?
                .id,
        ),
    };
    let device = NewDevice {
        name: form.name.trim().to_owned(),
        network,
        group,
        location: form.location.trim().to_owned(),
    };
    store.add_device(school, &device).await?;
    user.record(
        store,
        "device.add",
        &format!("device:{}", device.name),
        format!("{} group {}", device.network, form.group.trim()),
        None,
    )
    .await?;
    // In force at once in this process's filters, not at the next refresh.
    state.filter_changed(user.account.school).await;
    Ok(Redirect::to("/devices").into_response())
}

/// `POST /devices/{id}/delete`.
pub async fn delete_device(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    user.require(Permission::ManageDevices)?;
    let store = state.store();
    store
        .remove_device(user.account.school, DeviceId(id))
        .await?;
    state.filter_changed(user.account.school).await;
    user.record(
        store,
        "device.remove",
        &format!("device:{id}"),
        String::new(),
        None,
    )
    .await?;
    Ok(Redirect::to("/devices").into_response())
}

// ---------------------------------------------------------------------------------------------
// Activity
