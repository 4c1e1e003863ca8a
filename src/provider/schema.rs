//! Declaring provider, resource and data source schemas, in the spirit of
//! terraform-plugin-framework: attributes with their plan behaviour, and
//! single nested attributes for objects like `rate_limit`.

use super::dynamic::{Type, Value};
use super::proto::tfplugin6 as pb;
use std::collections::BTreeMap;

/// How an attribute relates to the management API's representation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// Sent on writes and read back.
    Field,
    /// Read back only (computed by the API).
    ReadOnly,
    /// Sent on writes, never returned, never stored in state.
    WriteOnly,
    /// Only the provider's: never sent, kept from the plan.
    Local,
    /// Returned once, by the create response; kept in state afterwards.
    OnCreate,
}

/// How a nested block repeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nesting {
    /// At most one (`deny { … }`): an object, null when absent.
    Single,
    /// In order, any number (`policy { … } policy { … }`): a list, empty when absent.
    List,
}

#[derive(Debug, Clone)]
pub struct Attribute {
    pub name: &'static str,
    pub ty: Type,
    /// Single nested attributes (an object), or a block's own attributes
    /// and blocks; empty for plain attributes.
    pub nested: Vec<Attribute>,
    /// Declared as a nested block rather than an attribute.
    pub block: Option<Nesting>,
    /// The API document's name for it, when not `name` (`policy` blocks are `policies`).
    pub api_name: Option<&'static str>,
    pub description: &'static str,
    pub required: bool,
    pub optional: bool,
    pub computed: bool,
    pub sensitive: bool,
    pub api: Api,
    /// A change destroys and re-creates the resource.
    pub requires_replace: bool,
    /// Changes whenever anything else does (`updated_at`).
    pub volatile: bool,
    /// The value used when the configuration leaves an Optional+Computed attribute out.
    pub default: Option<Value>,
}

impl Attribute {
    fn new(name: &'static str, ty: Type, description: &'static str) -> Attribute {
        Attribute {
            name,
            ty,
            nested: Vec::new(),
            block: None,
            api_name: None,
            description,
            required: false,
            optional: false,
            computed: false,
            sensitive: false,
            api: Api::Field,
            requires_replace: false,
            volatile: false,
            default: None,
        }
    }

    pub fn required(name: &'static str, ty: Type, description: &'static str) -> Attribute {
        Attribute { required: true, ..Attribute::new(name, ty, description) }
    }

    pub fn optional(name: &'static str, ty: Type, description: &'static str) -> Attribute {
        Attribute { optional: true, ..Attribute::new(name, ty, description) }
    }

    /// Optional+Computed: the API fills it in when the configuration does not.
    pub fn optional_computed(name: &'static str, ty: Type, description: &'static str) -> Attribute {
        Attribute { optional: true, computed: true, ..Attribute::new(name, ty, description) }
    }

    pub fn computed(name: &'static str, ty: Type, description: &'static str) -> Attribute {
        Attribute { computed: true, api: Api::ReadOnly, ..Attribute::new(name, ty, description) }
    }

    /// An object attribute whose own attributes are declared, not a block.
    pub fn nested_optional(name: &'static str, attributes: Vec<Attribute>, description: &'static str) -> Attribute {
        let ty = Type::Object(attributes.iter().map(|a| (a.name.to_string(), a.ty.clone())).collect());
        Attribute { optional: true, nested: attributes, ..Attribute::new(name, ty, description) }
    }

    /// A block that repeats, in order (`policy { … }`), called `api_name` in the API.
    pub fn block_list(name: &'static str, api_name: &'static str, attributes: Vec<Attribute>, description: &'static str) -> Attribute {
        let object = Type::Object(attributes.iter().map(|a| (a.name.to_string(), a.ty.clone())).collect());
        Attribute {
            optional: true,
            nested: attributes,
            block: Some(Nesting::List),
            api_name: Some(api_name),
            ..Attribute::new(name, Type::List(Box::new(object)), description)
        }
    }

    /// A block that appears at most once (`deny { message = "…" }`).
    pub fn block_single(name: &'static str, attributes: Vec<Attribute>, description: &'static str) -> Attribute {
        let ty = Type::Object(attributes.iter().map(|a| (a.name.to_string(), a.ty.clone())).collect());
        Attribute { optional: true, nested: attributes, block: Some(Nesting::Single), ..Attribute::new(name, ty, description) }
    }

    /// The name of the field in the API document.
    pub fn api_field(&self) -> &'static str {
        self.api_name.unwrap_or(self.name)
    }

    /// A block's schema: its attributes, and its own nested blocks.
    fn block_proto(attributes: &[Attribute], description: &str) -> pb::schema::Block {
        pb::schema::Block {
            version: 0,
            attributes: attributes.iter().filter(|a| a.block.is_none()).map(Attribute::to_proto).collect(),
            block_types: attributes.iter().filter(|a| a.block.is_some()).map(Attribute::nested_block_proto).collect(),
            description: description.to_string(),
            description_kind: pb::StringKind::Markdown as i32,
            deprecated: false,
        }
    }

    fn nested_block_proto(&self) -> pb::schema::NestedBlock {
        use pb::schema::nested_block::NestingMode;
        let (nesting, max_items) = match self.block {
            Some(Nesting::Single) => (NestingMode::Single, 0),
            _ => (NestingMode::List, 0),
        };
        pb::schema::NestedBlock {
            type_name: self.name.to_string(),
            block: Some(Attribute::block_proto(&self.nested, self.description)),
            nesting: nesting as i32,
            min_items: 0,
            max_items,
        }
    }

    pub fn replace(mut self) -> Attribute {
        self.requires_replace = true;
        self
    }

    pub fn default(mut self, value: Value) -> Attribute {
        self.default = Some(value);
        self
    }

    pub fn sensitive(mut self) -> Attribute {
        self.sensitive = true;
        self
    }

    pub fn api(mut self, api: Api) -> Attribute {
        self.api = api;
        self
    }

    pub fn volatile(mut self) -> Attribute {
        self.volatile = true;
        self
    }

    fn to_proto(&self) -> pb::schema::Attribute {
        let nested_type = (!self.nested.is_empty()).then(|| pb::schema::Object {
            attributes: self.nested.iter().map(Attribute::to_proto).collect(),
            nesting: pb::schema::object::NestingMode::Single as i32,
            ..Default::default()
        });
        pb::schema::Attribute {
            name: self.name.to_string(),
            r#type: if nested_type.is_some() { Vec::new() } else { self.ty.to_json().to_string().into_bytes() },
            nested_type,
            description: self.description.to_string(),
            required: self.required,
            optional: self.optional,
            computed: self.computed,
            sensitive: self.sensitive,
            description_kind: pb::StringKind::Markdown as i32,
            deprecated: false,
            write_only: self.api == Api::WriteOnly,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Schema {
    pub version: i64,
    pub description: &'static str,
    pub attributes: Vec<Attribute>,
}

impl Schema {
    pub fn new(description: &'static str, attributes: Vec<Attribute>) -> Schema {
        Schema { version: 0, description, attributes }
    }

    pub fn object_type(&self) -> Type {
        Type::Object(self.attributes.iter().map(|a| (a.name.to_string(), a.ty.clone())).collect())
    }

    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name == name)
    }

    pub fn to_proto(&self) -> pb::Schema {
        let block = pb::schema::Block { version: self.version, ..Attribute::block_proto(&self.attributes, self.description) };
        pb::Schema { version: self.version, block: Some(block) }
    }
}

/// The attributes that identify a resource instance (resource identity).
#[derive(Debug, Clone)]
pub struct Identity {
    pub version: i64,
    pub attributes: Vec<(&'static str, &'static str)>,
}

impl Identity {
    pub fn object_type(&self) -> Type {
        Type::Object(self.attributes.iter().map(|(name, _)| (name.to_string(), Type::String)).collect())
    }

    pub fn to_proto(&self) -> pb::ResourceIdentitySchema {
        pb::ResourceIdentitySchema {
            version: self.version,
            identity_attributes: self
                .attributes
                .iter()
                .map(|(name, description)| pb::resource_identity_schema::IdentityAttribute {
                    name: name.to_string(),
                    r#type: Type::String.to_json().to_string().into_bytes(),
                    required_for_import: true,
                    optional_for_import: false,
                    description: description.to_string(),
                })
                .collect(),
        }
    }

    /// The identity object of a state value.
    pub fn of(&self, state: &Value) -> Value {
        Value::Object(self.attributes.iter().map(|(name, _)| (name.to_string(), state.attr(name).clone())).collect::<BTreeMap<_, _>>())
    }
}

pub fn string_map() -> Type {
    Type::Map(Box::new(Type::String))
}

pub fn string_set() -> Type {
    Type::Set(Box::new(Type::String))
}
