//! Demo mode and the stored registry: `--demo` writes the demo registry only into a store that has
//! none, keeps a registry the user imported across restarts, and `reset_demo` brings the demo
//! registry back; a configured registry file is still imported whenever its text differs.

use std::path::Path;

use opensmev_server::config::Config;
use opensmev_server::{Application, BuildOptions, RegistryAtStart};

/// Builds the server in demo mode on `data_dir`; returns what it did to the registry and the
/// registry text in force afterwards. The application is dropped (its store closed) before
/// returning, so the next call can open the same data directory.
async fn start(
    data_dir: &Path,
    registry_file: Option<&Path>,
    reset_demo: bool,
) -> (RegistryAtStart, String) {
    let config = Config {
        data_dir: data_dir.to_owned(),
        demo: true,
        registry_file: registry_file.map(Path::to_owned),
        ..Config::default()
    };
    let app = Application::build_with(config, BuildOptions { reset_demo })
        .await
        .expect("build");
    let text = app
        .bus()
        .store()
        .registry()
        .await
        .unwrap()
        .expect("a registry")
        .text;
    (app.registry_at_start(), text)
}

/// The demo registry with another name for the consumer system.
fn changed(demo: &str) -> String {
    let changed = demo.replace("АИС МФЦ (демо)", "АИС МФЦ (свой реестр)");
    assert_ne!(changed, demo, "the demo registry names АИС МФЦ (демо)");
    changed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_keeps_an_imported_registry_until_reset() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();

    // A store without a registry gets the demo one.
    let (first, text) = start(data, None, false).await;
    assert_eq!(first, RegistryAtStart::ImportedDemo { version: 1 });
    let demo = std::fs::read_to_string(data.join("demo/registry.toml")).unwrap();
    assert_eq!(text, demo);

    // The same demo registry again: nothing written.
    let (again, _) = start(data, None, false).await;
    assert_eq!(again, RegistryAtStart::Unchanged { version: Some(1) });

    // The user imports their own registry (as `opensmev registry import` does).
    let own = changed(&demo);
    {
        let config = Config {
            data_dir: data.to_owned(),
            demo: true,
            ..Config::default()
        };
        let app = Application::build(config).await.unwrap();
        assert_eq!(app.bus().import_registry(&own).await.unwrap(), 2);
    }

    // A restart with --demo keeps it.
    let (kept, text) = start(data, None, false).await;
    assert_eq!(kept, RegistryAtStart::KeptOverDemo { version: 2 });
    assert_eq!(text, own);
    // The demo files are still written (keys unchanged, the demo registry beside them).
    assert_eq!(
        std::fs::read_to_string(data.join("demo/registry.toml")).unwrap(),
        demo
    );

    // --reset-demo brings the demo registry back.
    let (reset, text) = start(data, None, true).await;
    assert_eq!(reset, RegistryAtStart::ImportedDemo { version: 3 });
    assert_eq!(text, demo);

    // --reset-demo when the demo registry is already in force writes nothing.
    let (reset_again, _) = start(data, None, true).await;
    assert_eq!(reset_again, RegistryAtStart::Unchanged { version: Some(3) });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_explicit_registry_file_is_imported_over_the_demo() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let (first, _) = start(data, None, false).await;
    assert_eq!(first, RegistryAtStart::ImportedDemo { version: 1 });
    let demo = std::fs::read_to_string(data.join("demo/registry.toml")).unwrap();
    let own = changed(&demo);
    let file = data.join("own.toml");
    std::fs::write(&file, &own).unwrap();

    // The file differs from the stored registry: imported, with or without reset_demo.
    let (imported, text) = start(data, Some(&file), false).await;
    assert_eq!(imported, RegistryAtStart::ImportedFile { version: 2 });
    assert_eq!(text, own);
    let (same, text) = start(data, Some(&file), true).await;
    assert_eq!(same, RegistryAtStart::Unchanged { version: Some(2) });
    assert_eq!(text, own);

    // Without the file, --demo keeps it.
    let (kept, _) = start(data, None, false).await;
    assert_eq!(kept, RegistryAtStart::KeptOverDemo { version: 2 });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_start_reports_the_registry_in_force() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let (first, _) = start(data, None, false).await;
    assert_eq!(first, RegistryAtStart::ImportedDemo { version: 1 });
    // Not demo mode: the bus key of the demo set-up, nothing asked of the registry.
    let config = Config {
        data_dir: data.to_owned(),
        smev_key: Some(data.join("demo/SMEV/key.pem")),
        smev_cert: Some(data.join("demo/SMEV/cert.pem")),
        ..Config::default()
    };
    let app = Application::build_with(config, BuildOptions { reset_demo: true })
        .await
        .unwrap();
    assert_eq!(
        app.registry_at_start(),
        RegistryAtStart::Unchanged { version: Some(1) }
    );
    assert_eq!(app.bus().registry().version(), 1);
}
