//! The classifier Ward ships is what training on the dev cases gives (issue 23: the trained
//! model reproduced from the script gives the same weights).

use ward_detect::eval::parse_cases;
use ward_detect::model::{self, Model};
use ward_detect::{Scanner, default_lists};

#[test]
fn the_shipped_model_is_what_training_on_the_dev_cases_gives() {
    let (cases, problems) = parse_cases("dev.tsv", include_str!("../eval/dev.tsv"));
    assert!(problems.is_empty(), "{problems:?}");
    let scanner = Scanner::new(default_lists());
    let (trained, _) = model::train_on_cases(&scanner, &cases).expect("the dev cases train");
    let shipped = include_bytes!("../model/ward.model");
    assert!(
        trained.to_bytes() == shipped,
        "crates/detect/model/ward.model is not what the dev cases and lists train: run \
         scripts/train-detect-model and commit the file"
    );
    let read = Model::from_bytes(shipped).expect("the shipped model reads");
    assert_eq!(read.categories(), trained.categories());
}
