//! The type registry, C3 method resolution order, and database mapping.

use gludb::{Backend, Databases, Error, Storable, mro::mro, registry, sqlite::Sqlite};
use serde::{Deserialize, Serialize};

macro_rules! storable {
    ($name:ident, $table:literal $(, bases($($base:ident),*))?) => {
        #[derive(Storable, Serialize, Deserialize, Debug, Default)]
        #[gludb(table = $table $(, bases($($base),*))?)]
        pub struct $name {
            pub id: String,
        }
    };
}

storable!(Base, "Base");
storable!(X, "X", bases(Base));
storable!(Y, "Y", bases(Base));
storable!(Z, "Z", bases(Base));
storable!(Busy, "Busy", bases(X, Y, Z));

// P and Q order X and Y differently, so nothing can derive from both.
storable!(P, "P", bases(X, Y));
storable!(Q, "Q", bases(Y, X));
storable!(Conflicted, "Conflicted", bases(P, Q));

storable!(CycleA, "CycleA", bases(CycleB));
storable!(CycleB, "CycleB", bases(CycleA));

storable!(SimpleData, "SimpleTest");
storable!(ComplexData, "ComplexTest");
storable!(
    InheritedData,
    "InheritedTest",
    bases(SimpleData, ComplexData)
);

fn names(types: &[&'static gludb::TypeInfo]) -> Vec<&'static str> {
    types.iter().map(|t| t.type_name()).collect()
}

#[test]
fn mro_is_c3_not_depth_first() {
    assert_eq!(
        names(&mro(Busy::type_info()).unwrap()),
        ["Busy", "X", "Y", "Z", "Base"]
    );
    assert_eq!(names(&mro(Base::type_info()).unwrap()), ["Base"]);
    assert_eq!(
        names(&mro(InheritedData::type_info()).unwrap()),
        ["InheritedData", "SimpleData", "ComplexData"]
    );
}

#[test]
fn inconsistent_bases_are_a_clear_error() {
    let err = mro(Conflicted::type_info()).unwrap_err();
    assert!(matches!(err, Error::InconsistentHierarchy { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("Conflicted") && message.contains('X') && message.contains('Y'),
        "{message}"
    );

    let err = mro(CycleA::type_info()).unwrap_err();
    assert!(err.to_string().contains("cycle"), "{err}");
}

#[test]
fn registry_finds_types_by_name_and_module() {
    let info = Busy::type_info();
    assert_eq!(info.table(), "Busy");
    assert_eq!(info.module_path(), module_path!());
    assert_eq!(info.backup_name(), "Busy--Busy");
    assert_eq!(names(&info.bases().collect::<Vec<_>>()), ["X", "Y", "Z"]);

    let found = registry::find_by_name("InheritedData");
    assert_eq!(found.len(), 1);
    assert!(found[0].same_type(InheritedData::type_info()));
    let full = format!("{}::InheritedData", module_path!());
    assert_eq!(registry::find_by_name(&full).len(), 1);
    assert!(registry::find_by_name("NoSuchType").is_empty());
    assert_eq!(
        registry::find_by_backup_name("InheritedData--InheritedTest").len(),
        1
    );

    // Every type of this test binary is in this crate's root module.
    let here = registry::in_package(module_path!(), false);
    assert_eq!(here.len(), 13);
    assert!(registry::in_package("no_such_module", true).is_empty());
    // All of them, plus the backup crate's own history record.
    let all = registry::all();
    assert_eq!(all.len(), 14);
    assert!(
        all.iter()
            .any(|t| t.full_name() == "gludb_backup::backup::history::BackupHistory")
    );
}

#[tokio::test]
async fn database_mapping_follows_the_mro() {
    let default = Sqlite::open_in_memory().await.unwrap();
    let complex_db = Sqlite::open_in_memory().await.unwrap();
    let simple_db = Sqlite::open_in_memory().await.unwrap();

    let dbs = Databases::new(default.clone()).map::<ComplexData>(complex_db.clone());
    let id_of = |dbs: &Databases, info| dbs.database_for(info).unwrap().instance_id();
    assert_eq!(
        id_of(&dbs, InheritedData::type_info()),
        complex_db.instance_id()
    );
    assert_eq!(id_of(&dbs, SimpleData::type_info()), default.instance_id());

    // SimpleData comes before ComplexData in InheritedData's MRO.
    let dbs = dbs.map::<SimpleData>(simple_db.clone());
    assert_eq!(
        id_of(&dbs, InheritedData::type_info()),
        simple_db.instance_id()
    );

    // The type's own mapping wins over its bases'.
    let dbs = dbs.map::<InheritedData>(default.clone());
    assert_eq!(
        id_of(&dbs, InheritedData::type_info()),
        default.instance_id()
    );

    // No mapping and no default: a typed error naming the type.
    let none = Databases::without_default().map::<ComplexData>(complex_db);
    let err = none.database_for(Busy::type_info()).unwrap_err();
    assert!(
        matches!(&err, Error::NoDatabase { type_name } if type_name == "Busy"),
        "{err}"
    );
    let err = Busy::ensure_table(&none).await.unwrap_err();
    assert!(matches!(err, Error::NoDatabase { .. }));

    // Mapped types really are stored in their own database.
    let dbs = Databases::new(default.clone()).map::<ComplexData>(simple_db.clone());
    InheritedData::ensure_table(&dbs).await.unwrap();
    let mut d = InheritedData::default();
    d.save(&dbs).await.unwrap();
    assert!(
        simple_db
            .find_one(&gludb::TableName::new("InheritedTest").unwrap(), &d.id)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        default
            .find_one(&gludb::TableName::new("InheritedTest").unwrap(), &d.id)
            .await
            .is_err()
    );

    // An inconsistent hierarchy surfaces when a mapping needs the MRO.
    let err = dbs.database_for(Conflicted::type_info()).unwrap_err();
    assert!(matches!(err, Error::InconsistentHierarchy { .. }));
}
