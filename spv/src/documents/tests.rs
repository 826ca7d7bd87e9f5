//! Tests of the documents service through `oneshot`, on SQLite and (when configured)
//! PostgreSQL.

use serde_json::json;
use tower::ServiceExt;
use uuid::Uuid;

use super::*;
use crate::ErrorKind;
use crate::api::{
    CreateDocument, DeleteDocument, GetContent, GetDocument, ListDocuments, PatchDocument,
    PutContent,
};
use crate::api::{Document, DocumentQuery, Principal, Scope, Scopes};
use crate::store::testing::test_dbs;

const DOC: &[u8] = br##"{"format":"glyph","version":1,"title":"Poster",
  "pages":[{"id":"p1","width":400,"height":300,"layers":[]},{"width":50,"height":60,"layers":[]}]}"##;

fn user(name: &str, is_admin: bool) -> Principal {
    Principal {
        user_id: Uuid::now_v7(),
        username: name.into(),
        is_admin,
        scopes: Scopes::all(),
    }
}

fn doc_with_title(title: &str) -> Vec<u8> {
    format!(
        r#"{{"format":"glyph","version":1,"title":"{title}","pages":[{{"width":10,"height":10,"layers":[]}}]}}"#
    )
    .into_bytes()
}

async fn services() -> Vec<(Documents, crate::store::testing::TestDb)> {
    let mut out = Vec::new();
    for test in test_dbs().await {
        let config = DocumentsConfig {
            pool: crate::render::pool::RenderPool::new(2),
            ..DocumentsConfig::default()
        };
        out.push((Documents::with_db(test.db.clone(), config), test));
    }
    out
}

async fn create(docs: &Documents, who: &Principal, bytes: &[u8]) -> Document {
    docs.clone()
        .oneshot(CreateDocument::new(who.clone(), bytes.to_vec()))
        .await
        .unwrap()
}

async fn get(docs: &Documents, who: Option<&Principal>, id: Uuid) -> crate::Result<Document> {
    docs.clone()
        .oneshot(GetDocument {
            principal: who.cloned(),
            id,
        })
        .await
}

/// The content of `id` as `who` reads it.
async fn content(docs: &Documents, who: &Principal, id: Uuid) -> crate::api::DocumentContent {
    docs.clone()
        .oneshot(GetContent {
            principal: Some(who.clone()),
            id,
        })
        .await
        .unwrap()
}

#[test]
fn futures_are_send_and_static() {
    fn send_static<T: Send + 'static>() {}
    send_static::<<Documents as tower::Service<CreateDocument>>::Future>();
    send_static::<<Documents as tower::Service<ListDocuments>>::Future>();
    send_static::<<Documents as tower::Service<DeleteDocument>>::Future>();
    send_static::<Documents>();
}

#[tokio::test]
async fn create_get_and_content_round_trip_byte_exact() {
    for (docs, _db) in services().await {
        let ann = user("ann", false);
        // Odd spacing and unknown members must come back untouched.
        let bytes = br##"{ "format":"glyph", "version":1, "x-editor":{"zoom":2.5e0},
            "pages":[{"width":100,"height":80,"layers":[{"type":"rect","x":0,"y":0,
            "width":1,"height":1,"x-note":"keep me"}]}] }"##;
        let doc = create(&docs, &ann, bytes).await;
        assert_eq!(doc.owner_id, ann.user_id);
        assert_eq!(
            (doc.title.as_str(), doc.version, doc.public),
            ("Untitled", 1, false)
        );
        assert_eq!(doc.content_length, bytes.len() as u64);
        assert!(!doc.package);
        assert_eq!(get(&docs, Some(&ann), doc.id).await.unwrap(), doc);
        let content = content(&docs, &ann, doc.id).await;
        assert_eq!(content.bytes, bytes.to_vec());
        assert_eq!(content.content_type(), "application/json");
        assert_eq!(content.document.etag(), doc.etag());

        let named = docs
            .clone()
            .oneshot(CreateDocument {
                title: Some(" Mine ".into()),
                tags: vec!["a".into(), "b".into()],
                public: true,
                ..CreateDocument::new(ann.clone(), DOC.to_vec())
            })
            .await
            .unwrap();
        assert_eq!(named.title, "Mine");
        assert_eq!(named.tags, vec!["a".to_string(), "b".to_string()]);
        assert_eq!(named.pages.len(), 2);
        assert_eq!(named.pages[0].id.as_deref(), Some("p1"));
        assert_eq!((named.pages[1].width, named.pages[1].height), (50.0, 60.0));
    }
}

#[tokio::test]
async fn an_invalid_document_is_refused_with_its_json_path() {
    for (docs, _db) in services().await {
        let ann = user("ann", false);
        let bad =
            br#"{"format":"glyph","version":1,"pages":[{"width":-3,"height":10,"layers":[]}]}"#;
        let err = docs
            .clone()
            .oneshot(CreateDocument::new(ann.clone(), bad.to_vec()))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidDocument, "{err}");
        assert_eq!(err.path(), Some("pages[0].width"), "{err}");
        let list = docs
            .clone()
            .oneshot(ListDocuments {
                principal: Some(ann),
                query: DocumentQuery::default(),
            })
            .await
            .unwrap();
        assert!(list.items.is_empty(), "nothing was stored");
    }
}

#[tokio::test]
async fn a_package_is_stored_whole() {
    for (docs, _db) in services().await {
        let ann = user("ann", false);
        let bytes = crate::glyph::Package::write(DOC, &[]).unwrap();
        let doc = create(&docs, &ann, &bytes).await;
        assert!(doc.package);
        assert_eq!(doc.title, "Poster");
        let content = content(&docs, &ann, doc.id).await;
        assert_eq!(content.bytes, bytes);
        assert_eq!(content.content_type(), "application/zip");
    }
}

#[tokio::test]
async fn list_pages_newest_first_with_filters() {
    for (docs, _db) in services().await {
        let ann = user("ann", false);
        let bob = user("bob", false);
        let mut made = Vec::new();
        for i in 0..5 {
            let title = if i % 2 == 0 {
                format!("Blue {i}")
            } else {
                format!("red_{i}")
            };
            let doc = docs
                .clone()
                .oneshot(CreateDocument {
                    tags: if i < 2 { vec!["first".into()] } else { vec![] },
                    ..CreateDocument::new(ann.clone(), doc_with_title(&title))
                })
                .await
                .unwrap();
            made.push(doc);
        }
        create(&docs, &bob, DOC).await;
        let list = |page, per_page, title: Option<&str>, tag: Option<&str>| {
            let docs = docs.clone();
            let ann = ann.clone();
            let query = DocumentQuery {
                page,
                per_page,
                title: title.map(str::to_string),
                tag: tag.map(str::to_string),
            };
            async move {
                docs.oneshot(ListDocuments {
                    principal: Some(ann),
                    query,
                })
                .await
                .unwrap()
            }
        };
        let ids = |l: &crate::api::DocumentList| l.items.iter().map(|d| d.id).collect::<Vec<_>>();
        let all = list(None, None, None, None).await;
        let newest_first: Vec<Uuid> = made.iter().rev().map(|d| d.id).collect();
        assert_eq!(ids(&all), newest_first, "only ann's, newest first");
        assert!(!all.metainfo.has_next && !all.metainfo.has_prev);
        assert_eq!((all.metainfo.current_page, all.metainfo.per_page), (1, 20));

        let p1 = list(Some(1), Some(2), None, None).await;
        assert_eq!(ids(&p1), newest_first[..2].to_vec());
        assert!(p1.metainfo.has_next && !p1.metainfo.has_prev);
        let p3 = list(Some(3), Some(2), None, None).await;
        assert_eq!(ids(&p3), newest_first[4..].to_vec());
        assert!(!p3.metainfo.has_next && p3.metainfo.has_prev);
        let p2of = list(Some(1), Some(5), None, None).await;
        assert!(!p2of.metainfo.has_next, "exactly one full page");
        let beyond = list(Some(9), Some(2), None, None).await;
        assert!(beyond.items.is_empty() && !beyond.metainfo.has_next);

        let blue = list(None, None, Some("bLUE"), None).await;
        assert_eq!(blue.items.len(), 3);
        // `_` is a LIKE wildcard; it must match only itself.
        let underscore = list(None, None, Some("d_"), None).await;
        assert_eq!(underscore.items.len(), 2);
        assert_eq!(list(None, None, Some("e_"), None).await.items.len(), 0);
        let first = list(None, None, None, Some("first")).await;
        assert_eq!(ids(&first), vec![made[1].id, made[0].id]);

        let err = docs
            .clone()
            .oneshot(ListDocuments {
                principal: Some(ann.clone()),
                query: DocumentQuery {
                    per_page: Some(101),
                    ..DocumentQuery::default()
                },
            })
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    }
}

#[tokio::test]
async fn owners_admins_and_public_documents() {
    for (docs, _db) in services().await {
        let ann = user("ann", false);
        let bob = user("bob", false);
        let admin = user("root", true);
        let private = create(&docs, &ann, DOC).await;
        let err = get(&docs, Some(&bob), private.id).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "existence is not revealed");
        let missing = get(&docs, Some(&bob), Uuid::now_v7()).await.unwrap_err();
        assert_eq!(err.to_string().len(), missing.to_string().len());
        assert_eq!(
            get(&docs, None, private.id).await.unwrap_err().kind(),
            ErrorKind::NotFound
        );
        assert_eq!(get(&docs, Some(&admin), private.id).await.unwrap(), private);
        let patch = PatchDocument {
            principal: bob.clone(),
            id: private.id,
            patch: json!({"title": "mine now"}),
            if_match: None,
        };
        let err = docs.clone().oneshot(patch).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);

        let public = docs
            .clone()
            .oneshot(CreateDocument {
                public: true,
                ..CreateDocument::new(ann.clone(), DOC.to_vec())
            })
            .await
            .unwrap();
        assert_eq!(get(&docs, None, public.id).await.unwrap(), public);
        assert_eq!(get(&docs, Some(&bob), public.id).await.unwrap(), public);
        let err = docs
            .clone()
            .oneshot(DeleteDocument {
                principal: bob.clone(),
                id: public.id,
                if_match: None,
            })
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Forbidden);
        let read_only = Principal {
            scopes: Scopes::from(Scope::DocumentsRead),
            ..ann.clone()
        };
        let err = docs
            .clone()
            .oneshot(CreateDocument::new(read_only, DOC.to_vec()))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Forbidden);

        let list = |who: Option<Principal>| {
            let docs = docs.clone();
            async move {
                let query = DocumentQuery::default();
                let list = docs
                    .oneshot(ListDocuments {
                        principal: who,
                        query,
                    })
                    .await
                    .unwrap();
                list.items.iter().map(|d| d.id).collect::<Vec<_>>()
            }
        };
        assert_eq!(
            list(None).await,
            vec![public.id],
            "anonymous lists the public ones"
        );
        assert!(list(Some(bob.clone())).await.is_empty());
        let seen = list(Some(admin.clone())).await;
        assert!(seen.contains(&private.id) && seen.contains(&public.id));
        // An admin may change anyone's document.
        let done = docs
            .clone()
            .oneshot(PatchDocument {
                principal: admin,
                id: private.id,
                patch: json!({"public": true}),
                if_match: None,
            })
            .await
            .unwrap();
        assert!(done.public);
    }
}

#[tokio::test]
async fn writes_bump_the_version_and_stale_if_match_changes_nothing() {
    for (docs, _db) in services().await {
        let ann = user("ann", false);
        let doc = create(&docs, &ann, DOC).await;
        let v1 = doc.etag();
        let put = |content: Vec<u8>, if_match: Option<String>| {
            docs.clone().oneshot(PutContent {
                principal: ann.clone(),
                id: doc.id,
                content,
                if_match,
            })
        };
        let new_bytes = doc_with_title("Second");
        let v2 = put(new_bytes.clone(), Some(v1.clone())).await.unwrap();
        assert_eq!(v2.version, 2);
        assert_ne!(v2.etag(), v1);
        assert_eq!(v2.title, "Poster", "the stored title stays");
        assert_eq!(v2.pages.len(), 1);
        assert!(v2.updated_at >= doc.updated_at && v2.created_at == doc.created_at);

        let err = put(DOC.to_vec(), Some(v1.clone())).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::PreconditionFailed, "{err}");
        let err = put(b"{}".to_vec(), Some(v2.etag())).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidDocument);
        let content = content(&docs, &ann, doc.id).await;
        assert_eq!(content.bytes, new_bytes, "unchanged by refused writes");
        assert_eq!(content.document, v2);

        let patch = |patch: serde_json::Value, if_match: Option<String>| {
            docs.clone().oneshot(PatchDocument {
                principal: ann.clone(),
                id: doc.id,
                patch,
                if_match,
            })
        };
        let err = patch(json!({"title": "x"}), Some(v1)).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::PreconditionFailed);
        let v3 = patch(
            json!({"title": "Third", "tags": ["x"]}),
            Some(format!("\"nope\", {}", v2.etag())),
        )
        .await
        .unwrap();
        assert_eq!((v3.version, v3.title.as_str()), (3, "Third"));
        assert_eq!(v3.content_sha256, v2.content_sha256);
        assert_ne!(v3.etag(), v2.etag(), "metadata changes change the ETag");
        let same = patch(json!({}), None).await.unwrap();
        assert_eq!(same.version, 3, "an empty patch is no change");
        let err = patch(json!({"owner_id": "x"}), None).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidRequest);
        assert_eq!(get(&docs, Some(&ann), doc.id).await.unwrap(), v3);

        let delete = |if_match: Option<String>| {
            docs.clone().oneshot(DeleteDocument {
                principal: ann.clone(),
                id: doc.id,
                if_match,
            })
        };
        let err = delete(Some(v2.etag())).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::PreconditionFailed);
        assert!(get(&docs, Some(&ann), doc.id).await.is_ok(), "still there");
        delete(Some(v3.etag())).await.unwrap();
        assert_eq!(
            get(&docs, Some(&ann), doc.id).await.unwrap_err().kind(),
            ErrorKind::NotFound
        );
        assert_eq!(delete(None).await.unwrap_err().kind(), ErrorKind::NotFound);
    }
}

#[tokio::test]
async fn stream_yields_every_document_once_in_list_order() {
    use futures_util::StreamExt as _;
    for (docs, _db) in services().await {
        let ann = user("ann", false);
        let bob = user("bob", false);
        let total = usize::try_from(STREAM_CHUNK).unwrap() * 2 + 3;
        for i in 0..total {
            create(&docs, &ann, &doc_with_title(&format!("d{i}"))).await;
        }
        create(&docs, &bob, &doc_with_title("not ann's")).await;
        let request = || ListDocuments {
            principal: Some(ann.clone()),
            query: DocumentQuery::default(),
        };

        let mut stream = docs.stream(request());
        let first = stream.next().await.unwrap().unwrap();
        // Added while streaming: newer than the cursor, so neither repeated nor shifting.
        create(&docs, &ann, &doc_with_title("late")).await;
        let mut streamed = vec![first];
        while let Some(document) = stream.next().await {
            streamed.push(document.unwrap());
        }
        assert_eq!(streamed.len(), total);
        assert!(streamed.iter().all(|d| d.owner_id == ann.user_id));
        assert_eq!(streamed[0].title, format!("d{}", total - 1));
        assert_eq!(streamed[total - 1].title, "d0");

        // The same order as paging through the list (skipping the late one).
        let mut paged = Vec::new();
        for page in 1.. {
            let list = docs
                .clone()
                .oneshot(ListDocuments {
                    principal: Some(ann.clone()),
                    query: DocumentQuery {
                        page: Some(page),
                        per_page: Some(100),
                        ..DocumentQuery::default()
                    },
                })
                .await
                .unwrap();
            paged.extend(list.items.into_iter().filter(|d| d.title != "late"));
            if !list.metainfo.has_next {
                break;
            }
        }
        let ids = |v: &[Document]| v.iter().map(|d| d.id).collect::<Vec<_>>();
        assert_eq!(ids(&streamed), ids(&paged));

        // Filters apply; anonymous callers stream public documents only (none here).
        let mut filtered = docs.stream(ListDocuments {
            principal: Some(ann.clone()),
            query: DocumentQuery {
                title: Some("late".into()),
                ..DocumentQuery::default()
            },
        });
        assert_eq!(filtered.next().await.unwrap().unwrap().title, "late");
        assert!(filtered.next().await.is_none());
        let anonymous = docs.stream(ListDocuments {
            principal: None,
            query: DocumentQuery::default(),
        });
        assert_eq!(anonymous.count().await, 0);
    }
}

/// A compaction writes the state at its snapshot's version while later changes go on
/// being logged (the live actor writes it in the background), but never over a REST
/// write's content or a later compaction's.
#[tokio::test]
async fn a_compaction_keeps_up_with_later_changes_and_never_goes_back() {
    for (docs, _db) in services().await {
        let ann = user("ann", false);
        let doc = create(&docs, &ann, DOC).await;
        let repo = docs.repo().clone();
        let change = |seq: i64, title: &str| StoredChange {
            seq,
            session: "s".into(),
            user_id: ann.user_id.to_string(),
            user_name: "ann".into(),
            ops: format!(r#"[{{"op":"set","target":"document","key":"title","value":"{title}"}}]"#),
        };
        let now = crate::store::from_ms(crate::store::now_ms());
        assert!(
            repo.append_changes(doc.id, 1, &[change(2, "two")], now)
                .await
                .unwrap()
        );
        // The snapshot at 2; meanwhile change 3 is logged.
        let mut at2 = repo.get(doc.id).await.unwrap().unwrap();
        let bytes2 = doc_with_title("two");
        at2.version = 2;
        at2.content_length = bytes2.len() as u64;
        assert!(
            repo.append_changes(doc.id, 2, &[change(3, "three")], now)
                .await
                .unwrap()
        );
        assert!(
            repo.compact(&at2, &bytes2, 0).await.unwrap(),
            "written although at 3"
        );
        let base = repo.live_base(doc.id).await.unwrap().unwrap();
        assert_eq!((base.content_version, base.document.version), (2, 3));
        assert_eq!(base.content, bytes2);
        // A stale snapshot (1 < 2) changes nothing; neither does one after a REST write.
        let mut at1 = at2.clone();
        at1.version = 1;
        assert!(!repo.compact(&at1, DOC, 0).await.unwrap());
        let put = docs
            .clone()
            .oneshot(PutContent {
                principal: ann.clone(),
                id: doc.id,
                content: doc_with_title("rest"),
                if_match: None,
            })
            .await
            .unwrap();
        assert_eq!(put.version, 4);
        let mut at3 = at2.clone();
        at3.version = 3;
        assert!(
            !repo
                .compact(&at3, &doc_with_title("three"), 0)
                .await
                .unwrap()
        );
        let content = content(&docs, &ann, doc.id).await;
        assert_eq!(content.bytes, doc_with_title("rest"));
    }
}
