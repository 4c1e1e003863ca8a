//! Registry-layout documentation (`docs/index.md`, `docs/resources/*.md`,
//! `docs/data-sources/*.md`, `docs/ephemeral-resources/*.md`,
//! `docs/actions/*.md`) rendered from the schema Terraform reports and the
//! examples, in the layout tfplugindocs produces.

use serde_json::Value;
use std::path::Path;

fn type_name(attribute: &Value) -> String {
    if attribute.get("nested_type").is_some() {
        return "Attributes".into();
    }
    fn render(ty: &Value) -> String {
        match ty {
            Value::String(s) => capitalize(s),
            Value::Array(parts) if parts.len() == 2 => {
                let kind = parts[0].as_str().unwrap_or_default();
                match kind {
                    "object" => "Object".into(),
                    _ => format!("{} of {}", capitalize(kind), render(&parts[1])),
                }
            }
            _ => "Dynamic".into(),
        }
    }
    render(&attribute["type"])
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    chars.next().map(|c| c.to_uppercase().collect::<String>() + chars.as_str()).unwrap_or_default()
}

/// One block's attributes and nested blocks, grouped as tfplugindocs groups
/// them; nested schemas to render after it go on `nested` (name, anchor
/// kind, block).
fn group(block: &Value, nested_prefix: &str, out: &mut String, nested: &mut Vec<(String, &'static str, Value)>) {
    type Wanted = fn(&Value) -> bool;
    let sections: [(&str, Wanted); 3] = [
        ("Required", |a| a["required"] == true),
        ("Optional", |a| a["optional"] == true),
        ("Read-Only", |a| a["computed"] == true && a["optional"] != true && a["required"] != true),
    ];
    let attributes = block["attributes"].as_object().cloned().unwrap_or_default();
    let blocks = block["block_types"].as_object().cloned().unwrap_or_default();
    for (title, wanted) in sections {
        let mut entries: Vec<(String, String)> = Vec::new();
        for (name, attribute) in attributes.iter().filter(|(_, a)| wanted(a)) {
            let mut traits = vec![type_name(attribute)];
            if attribute["sensitive"] == true {
                traits.push("Sensitive".into());
            }
            if attribute["write_only"] == true {
                traits.push("Write-only".into());
            }
            let description = attribute["description"].as_str().unwrap_or_default();
            let link = if attribute.get("nested_type").is_some() {
                nested.push((format!("{nested_prefix}{name}"), "nestedatt", attribute["nested_type"].clone()));
                format!(" (see [below for nested schema](#nestedatt--{nested_prefix}{name}))")
            } else {
                String::new()
            };
            entries.push((name.clone(), format!("- `{name}` ({}) {description}{link}\n", traits.join(", "))));
        }
        // Nested blocks are optional: they appear with the optional attributes.
        if title == "Optional" {
            for (name, nested_block) in &blocks {
                let kind = match nested_block["nesting_mode"].as_str() {
                    Some("single") => "Block, Optional".to_string(),
                    _ => "Block List".to_string(),
                };
                let description = nested_block["block"]["description"].as_str().unwrap_or_default();
                nested.push((format!("{nested_prefix}{name}"), "nestedblock", nested_block["block"].clone()));
                let link = format!(" (see [below for nested schema](#nestedblock--{nested_prefix}{name}))");
                entries.push((name.clone(), format!("- `{name}` ({kind}) {description}{link}\n")));
            }
        }
        if entries.is_empty() {
            continue;
        }
        entries.sort();
        out.push_str(&format!("\n### {title}\n\n"));
        for (_, line) in entries {
            out.push_str(&line);
        }
    }
}

fn schema_markdown(block: &Value) -> String {
    let mut out = String::from("## Schema\n");
    let mut nested = Vec::new();
    group(block, "", &mut out, &mut nested);
    while let Some((name, anchor, nested_block)) = nested.pop() {
        out.push_str(&format!("\n<a id=\"{anchor}--{name}\"></a>\n### Nested Schema for `{}`\n", name.replace("--", ".")));
        group(&nested_block, &format!("{name}--"), &mut out, &mut nested);
    }
    out
}

fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// The pages for a provider schema (as `terraform providers schema -json`
/// reports it), by path relative to the repository root.
pub fn render(provider: &Value, root: &Path) -> Vec<(String, String)> {
    let mut pages = Vec::new();
    let provider_example = read(&root.join("examples/provider/provider.tf")).unwrap_or_default();
    let description = provider["provider"]["block"]["description"].as_str().unwrap_or_default();
    // The provider's page comes from its template, as tfplugindocs renders
    // `templates/index.md.tmpl`: the three placeholders it uses are filled.
    let template = read(&root.join("templates/index.md.tmpl")).expect("templates/index.md.tmpl");
    let index = template
        .replace("{{ .Description }}", description)
        .replace("{{ tffile \"examples/provider/provider.tf\" }}", &provider_example)
        .replace("{{ .SchemaMarkdown | trimspace }}", schema_markdown(&provider["provider"]["block"]).trim());
    pages.push(("docs/index.md".to_string(), format!("{}\n", index.trim_end())));
    let kinds = [
        ("resource_schemas", "resources", "Resource", "resource.tf"),
        ("data_source_schemas", "data-sources", "Data Source", "data-source.tf"),
        ("ephemeral_resource_schemas", "ephemeral-resources", "Ephemeral Resource", "ephemeral-resource.tf"),
        ("action_schemas", "actions", "Action", "action.tf"),
    ];
    for (kind, folder, title, example_file) in kinds {
        for (name, schema) in provider[kind].as_object().into_iter().flatten() {
            let block = &schema["block"];
            let description = block["description"].as_str().unwrap_or_default();
            let mut page = format!(
                "---\npage_title: \"{name} {title} - terraform-provider-mcp\"\nsubcategory: \"\"\ndescription: |-\n  {description}\n---\n\n# {name} ({title})\n\n{description}\n"
            );
            let examples = root.join("examples").join(folder).join(name);
            if let Some(example) = read(&examples.join(example_file)) {
                page.push_str(&format!("\n## Example Usage\n\n```terraform\n{example}```\n"));
            }
            page.push_str(&format!("\n{}", schema_markdown(block)));
            if let Some(import) = read(&examples.join("import.sh")) {
                page.push_str(&format!(
                    "\n## Import\n\nImport is supported using the following syntax, or with an `import` block naming the resource's identity:\n\n```shell\n{import}```\n"
                ));
            }
            pages.push((format!("docs/{folder}/{name}.md"), page));
        }
    }
    pages
}
