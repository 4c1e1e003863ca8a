//! The one domain model shared by the management API, the gateway and the
//! Terraform provider: resource shapes, their validation rules, and the
//! decisions (lifecycles, limits) that must agree everywhere.

pub mod authorization_server;
pub mod calls;
pub mod cel;
pub mod error;
pub mod federation;
pub mod openapi;
pub mod policy;
pub mod portal_user;
pub mod product;
pub mod product_server;
pub mod routing;
pub mod rules;
pub mod server;
pub mod subscription;
pub mod tools;
pub mod version;

pub use authorization_server::{AuthorizationServer, AuthorizationServerSpec};
pub use error::{FieldError, FieldErrorBody, Reason, ValidationErrors};
pub use portal_user::{PortalRole, PortalUser, PortalUserSpec};
pub use product::{CallLimit, Product, ProductSpec, ProductState};
pub use product_server::{ProductServer, ProductServerSpec, ToolFilter};
pub use server::{Server, ServerSpec};
pub use subscription::{KeySlot, Subscription, SubscriptionSpec, SubscriptionState};
pub use version::{Transport, Version, VersionSpec, VersionStatus};

/// The kinds of resource the control plane stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Server,
    Version,
    Product,
    ProductServer,
    Subscription,
    AuthorizationServer,
    PortalUser,
}

impl Kind {
    pub const ALL: [Kind; 7] =
        [Kind::Server, Kind::Version, Kind::Product, Kind::ProductServer, Kind::Subscription, Kind::AuthorizationServer, Kind::PortalUser];

    /// How the change table names the kind.
    pub fn code(self) -> &'static str {
        match self {
            Kind::Server => "server",
            Kind::Version => "version",
            Kind::Product => "product",
            Kind::ProductServer => "product_server",
            Kind::Subscription => "subscription",
            Kind::AuthorizationServer => "authorization_server",
            Kind::PortalUser => "portal_user",
        }
    }

    pub fn from_code(code: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.code() == code)
    }

    /// The name used in API paths and messages.
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Server => "server",
            Kind::Version => "version",
            Kind::Product => "product",
            Kind::ProductServer => "product server",
            Kind::Subscription => "subscription",
            Kind::AuthorizationServer => "authorization server",
            Kind::PortalUser => "portal user",
        }
    }
}

/// Where a kind's body holds secret values, which the store keeps sealed at
/// rest and the API never returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretField {
    /// Every value of the object at this top-level field.
    MapValues(&'static str),
    /// The string at this path of nested fields.
    Path(&'static [&'static str]),
}

impl SecretField {
    /// The secret fields of a kind's spec.
    pub fn of(kind: Kind) -> &'static [SecretField] {
        match kind {
            Kind::Version => version::SECRET_FIELDS,
            _ => &[],
        }
    }
}

/// Identifies one stored resource. `parent` is the server of a version and
/// the product of a product server; empty for top-level resources.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    pub kind: Kind,
    pub parent: String,
    pub name: String,
}

impl Key {
    pub fn top(kind: Kind, name: impl Into<String>) -> Key {
        Key { kind, parent: String::new(), name: name.into() }
    }

    pub fn child(kind: Kind, parent: impl Into<String>, name: impl Into<String>) -> Key {
        Key { kind, parent: parent.into(), name: name.into() }
    }

    /// The resource's API path below `/api/v1`, e.g. `servers/a/versions/v1`.
    pub fn path(&self) -> String {
        match self.kind {
            Kind::Server => format!("servers/{}", self.name),
            Kind::Version => format!("servers/{}/versions/{}", self.parent, self.name),
            Kind::Product => format!("products/{}", self.name),
            Kind::ProductServer => format!("products/{}/servers/{}", self.parent, self.name),
            Kind::Subscription => format!("subscriptions/{}", self.name),
            Kind::AuthorizationServer => format!("authorization-servers/{}", self.name),
            Kind::PortalUser => format!("portal-users/{}", self.name),
        }
    }
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.path())
    }
}
