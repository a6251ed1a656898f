//! What the deployment is made of: memory sizes and the bcrypt cost from template.yaml,
//! and the sizes of the built artifacts (arm64 bootstraps and zips from
//! `cargo lambda build --release --arm64 --output-format zip`, x86_64 release binaries).

use std::collections::BTreeMap;
use std::path::Path;

use serde_yaml_ng::Value;

use omnisession_testkit::Function;

use crate::Result;

pub struct Template {
    /// MB per function.
    pub memory_mb: BTreeMap<Function, u32>,
    /// The `BcryptCost` parameter's default.
    pub bcrypt_cost: u32,
}

/// Reads memory sizes (a number, `!Ref Parameter` resolved to its default, or the
/// Globals value) and the default bcrypt cost.
pub fn template(root: &Path) -> Result<Template> {
    let text = std::fs::read_to_string(root.join("template.yaml"))?;
    let doc: Value = serde_yaml_ng::from_str(&text)?;
    let parameter_default =
        |name: &str| -> Option<u32> { number(&doc["Parameters"][name]["Default"]) };
    let resolve = |v: &Value| -> Option<u32> {
        match v {
            Value::Tagged(tagged) if tagged.tag == "Ref" => {
                tagged.value.as_str().and_then(parameter_default)
            }
            other => number(other),
        }
    };
    let global = resolve(&doc["Globals"]["Function"]["MemorySize"]).unwrap_or(128);
    let mut memory_mb = BTreeMap::new();
    for function in Function::ALL {
        // The function's resource: the one template.yaml builds from its binary.
        let resource = doc["Resources"]
            .as_mapping()
            .and_then(|resources| {
                resources.values().find(|r| {
                    r["Metadata"]["BuildProperties"]["Binary"].as_str() == Some(function.package())
                })
            })
            .ok_or_else(|| format!("template.yaml builds no {}", function.package()))?;
        let size = resolve(&resource["Properties"]["MemorySize"]).unwrap_or(global);
        memory_mb.insert(function, size);
    }
    Ok(Template {
        memory_mb,
        bcrypt_cost: parameter_default("BcryptCost").ok_or("BcryptCost default")?,
    })
}

fn number(v: &Value) -> Option<u32> {
    match v {
        Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

pub struct Artifact {
    pub bytes: u64,
    pub modified: String,
    /// ELF machine: 183 AArch64, 62 x86-64.
    pub machine: Option<u16>,
}

pub fn artifact(path: &Path) -> Option<Artifact> {
    let meta = std::fs::metadata(path).ok()?;
    let modified = meta
        .modified()
        .ok()
        .map(|t| {
            chrono::DateTime::<chrono::Utc>::from(t)
                .format("%Y-%m-%d %H:%M UTC")
                .to_string()
        })
        .unwrap_or_default();
    let machine = std::fs::read(path).ok().and_then(|bytes| {
        (bytes.len() > 20 && bytes.starts_with(b"\x7fELF"))
            .then(|| u16::from_le_bytes([bytes[18], bytes[19]]))
    });
    Some(Artifact {
        bytes: meta.len(),
        modified,
        machine,
    })
}

pub struct Sizes {
    pub arm64_bootstrap: Option<Artifact>,
    pub arm64_zip: Option<Artifact>,
    pub x86_64_binary: Option<Artifact>,
}

pub fn sizes(target_dir: &Path, function: Function) -> Sizes {
    let lambda = target_dir.join("lambda").join(function.package());
    Sizes {
        // cargo-lambda keeps only the zip with `--output-format zip`; the binary it zipped
        // is cargo's aarch64 release output.
        arm64_bootstrap: artifact(&lambda.join("bootstrap")).or_else(|| {
            artifact(
                &target_dir
                    .join("aarch64-unknown-linux-gnu/release")
                    .join(function.package()),
            )
        }),
        arm64_zip: artifact(&lambda.join("bootstrap.zip")),
        x86_64_binary: artifact(&target_dir.join("release").join(function.package())),
    }
}
