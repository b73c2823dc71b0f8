//! The `Storable` trait: what `#[derive(Storable)]` implements, and the data
//! operations every stored type gets.

use std::future::Future;

use futures_util::{StreamExt, stream::BoxStream};
use serde::{Serialize, de::DeserializeOwned};

use crate::{
    Databases, Error, RecordKeys, Result, StoredRecord, TableName, TypeInfo,
    backend::Row,
    record::{self, RecordMeta, new_id, now_timestamp},
};

/// A type stored by gludb: one JSON record per object, in the table named by
/// `#[gludb(table = "...")]`. Implement it with `#[derive(Storable)]`.
///
/// ```
/// use gludb_core::{Databases, Storable, sqlite::Sqlite};
///
/// #[derive(gludb_derive::Storable, serde::Serialize, serde::Deserialize)]
/// #[gludb(table = "Note", crate = "gludb_core")] // plain `#[gludb(table = "Note")]` via the `gludb` crate
/// struct Note { id: String, text: String }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> gludb_core::Result<()> {
/// let dbs = Databases::new(Sqlite::open_in_memory().await?);
/// Note::ensure_table(&dbs).await?;
/// let mut note = Note { id: String::new(), text: "hello".into() };
/// note.save(&dbs).await?;
/// assert_eq!(note.id.len(), 32);
/// let found = Note::find_one(&dbs, &note.id).await?.expect("just saved");
/// assert_eq!(found.text, "hello");
/// # Ok(()) }
/// ```
///
/// # When a record was created and last saved
///
/// Every stored record carries GLUDB's automatic keys `_create_date` (set
/// by the first save, kept by later ones) and `_last_update` (set by every
/// save), written by gludb next to the type's own fields. Read them with
/// [`find_one_with_meta`](Storable::find_one_with_meta), which returns the
/// object with its [`RecordMeta`]:
///
/// ```
/// use gludb_core::{Databases, Storable, sqlite::Sqlite};
///
/// #[derive(gludb_derive::Storable, serde::Serialize, serde::Deserialize)]
/// #[gludb(table = "Note", crate = "gludb_core")]
/// struct Note { id: String, text: String }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> gludb_core::Result<()> {
/// let dbs = Databases::new(Sqlite::open_in_memory().await?);
/// Note::ensure_table(&dbs).await?;
/// let mut note = Note { id: String::new(), text: "first".into() };
/// note.save(&dbs).await?;
/// note.text = "second".into();
/// note.save(&dbs).await?;
///
/// let (found, meta) = Note::find_one_with_meta(&dbs, &note.id).await?.expect("saved");
/// assert_eq!(found.text, "second");
/// let created = meta.created.expect("set by the first save");
/// let updated = meta.last_update.expect("set by every save");
/// assert!(created <= updated);
/// # Ok(()) }
/// ```
///
/// A type may also read them into fields of its own, as long as it never
/// writes them (gludb would overwrite them): `#[serde(skip_serializing,
/// default)] _last_update: String`. Such a field holds the stored text
/// (`UTC:2026-11-27T02:00:00.123456`, see [`crate::record::parse_timestamp`])
/// when the object is read; `save` does not update it in the object.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not Storable",
    label = "not a `#[derive(Storable)]` type",
    note = "only types with `#[derive(Storable)]` can be stored, backed up, or named in `bases(...)`"
)]
pub trait Storable: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The type's registry entry.
    fn type_info() -> &'static TypeInfo;

    /// The object's id (empty until first saved).
    fn id(&self) -> &str;

    /// Sets the object's id.
    fn set_id(&mut self, id: String);

    /// One value per declared index, in declaration order.
    fn index_values(&self) -> Vec<String>;

    /// Creates the type's table (and index columns) if it is missing.
    fn ensure_table(dbs: &Databases) -> impl Future<Output = Result<()>> + Send {
        async move {
            let (db, spec) = dbs.resolve(Self::type_info())?;
            db.ensure_table(&spec).await
        }
    }

    /// Inserts or updates the object. An empty id is replaced by a new one
    /// first; `_last_update` is set to now and `_create_date` is kept from the
    /// stored record (set to now for a new one).
    ///
    /// Before writing, the exact JSON text about to be stored is decoded back
    /// into `Self`, as every read and restore will decode it. If that fails,
    /// nothing is written (an existing record keeps its old value) and `save`
    /// returns [`Error::Encode`] saying "the value would not read back: ...".
    /// This refuses, for example, an `f64` that is NaN or infinite (serde_json
    /// writes it as `null`) and JSON nested deeper than serde_json's read limit
    /// of 128 levels. Without the check such a record would fail every read,
    /// and make any backup holding it impossible to restore. The check costs one
    /// decode of the record per save, the same as reading it once.
    ///
    /// It cannot see a value that decodes into something else: a NaN in an
    /// `Option<f64>` is stored as `null` and reads back as `None`.
    ///
    /// The id is assigned before the check, so a refused new object keeps it.
    fn save(&mut self, dbs: &Databases) -> impl Future<Output = Result<()>> + Send {
        async move {
            let (db, spec) = dbs.resolve(Self::type_info())?;
            if self.id().is_empty() {
                self.set_id(new_id());
            }
            let value = record::encode(self, &now_timestamp())?;
            let row = Row {
                id: self.id().to_owned(),
                value,
                index_values: self.index_values(),
            };
            db.upsert(&spec, row).await
        }
    }

    /// The object with this id, if stored.
    fn find_one(dbs: &Databases, id: &str) -> impl Future<Output = Result<Option<Self>>> + Send {
        async move {
            let (db, spec) = dbs.resolve(Self::type_info())?;
            match db.find_one(&spec.table, id).await? {
                Some(record) => decode::<Self>(&spec.table, &record).map(Some),
                None => Ok(None),
            }
        }
    }

    /// The object with this id, if stored, with gludb's automatic keys of
    /// its record: when it was created and last saved (see [`RecordMeta`]
    /// and the [trait documentation](Storable#when-a-record-was-created-and-last-saved)).
    fn find_one_with_meta(
        dbs: &Databases,
        id: &str,
    ) -> impl Future<Output = Result<Option<(Self, RecordMeta)>>> + Send {
        async move {
            let (db, spec) = dbs.resolve(Self::type_info())?;
            let Some(record) = db.find_one(&spec.table, id).await? else {
                return Ok(None);
            };
            let object = decode::<Self>(&spec.table, &record)?;
            Ok(Some((object, RecordMeta::of_record(&record))))
        }
    }

    /// Every stored object, as a stream read page by page (memory stays
    /// bounded however many there are).
    fn find_all(dbs: &Databases) -> BoxStream<'static, Result<Self>> {
        match dbs.resolve(Self::type_info()) {
            Ok((db, spec)) => db
                .find_all(&spec.table)
                .map(move |record| decode::<Self>(&spec.table, &record?))
                .boxed(),
            Err(e) => futures_util::stream::once(async move { Err(e) }).boxed(),
        }
    }

    /// The objects whose index `index` has the value `value` (the index's
    /// value as stored: its `to_string()`), ordered by id.
    ///
    /// `#[derive(Storable)]` also generates a typed finder per index,
    /// `find_by_<index>(dbs, value)`, which cannot name an undeclared index.
    fn find_by_index(
        dbs: &Databases,
        index: &str,
        value: &str,
    ) -> impl Future<Output = Result<Vec<Self>>> + Send {
        async move {
            let info = Self::type_info();
            let (db, spec) = dbs.resolve(info)?;
            let Some(index) = spec.index(index) else {
                return Err(Error::UnknownIndex {
                    type_name: info.type_name().to_owned(),
                    index: index.to_owned(),
                    declared: info.indexes(),
                });
            };
            db.find_by_index(&spec.table, index, value)
                .await?
                .iter()
                .map(|record| decode::<Self>(&spec.table, record))
                .collect()
        }
    }

    /// Deletes the stored object; `true` if it was stored.
    fn delete(&self, dbs: &Databases) -> impl Future<Output = Result<bool>> + Send {
        async move {
            let (db, spec) = dbs.resolve(Self::type_info())?;
            db.delete(&spec.table, self.id()).await
        }
    }
}

fn decode<T: Storable>(table: &TableName, record: &StoredRecord) -> Result<T> {
    serde_json::from_str(&record.value).map_err(|source| Error::Decode {
        type_name: T::type_info().type_name().to_owned(),
        table: table.to_string(),
        id: record.id.clone(),
        source,
    })
}

/// Decodes a stored record as `T` and computes its keys: the `decode`
/// function `#[derive(Storable)]` puts into the registry.
#[doc(hidden)]
pub fn decode_record<T: Storable>(
    json: &str,
) -> std::result::Result<RecordKeys, serde_json::Error> {
    let object: T = serde_json::from_str(json)?;
    Ok(RecordKeys {
        id: object.id().to_owned(),
        index_values: object.index_values(),
    })
}
