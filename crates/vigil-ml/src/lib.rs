//! Anomaly scoring: an Isolation Forest (Liu, Ting and Zhou, 2008) written in the project, seeded
//! so that the same seed gives the same model and the same scores; its trees live in flat arrays;
//! models are saved as versioned files. `mat` reads the MATLAB v5 files the ODDS benchmark sets
//! come in; `auc` is the ROC-AUC they are scored by.

pub mod auc;
pub mod forest;
pub mod mat;

pub use forest::{IsolationForest, Params};

/// A dense matrix of `rows` × `cols`, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Matrix {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f64>,
}

impl Matrix {
    pub fn new(rows: usize, cols: usize, data: Vec<f64>) -> Result<Matrix, Error> {
        if data.len() != rows * cols {
            return Err(Error::Shape(format!("{} values for {rows} × {cols}", data.len())));
        }
        Ok(Matrix { rows, cols, data })
    }
    pub fn row(&self, i: usize) -> &[f64] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }
    /// The rows at `idx`, in that order.
    pub fn select(&self, idx: &[usize]) -> Matrix {
        let mut data = Vec::with_capacity(idx.len() * self.cols);
        for &i in idx {
            data.extend_from_slice(self.row(i));
        }
        Matrix { rows: idx.len(), cols: self.cols, data }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("shape: {0}")]
    Shape(String),
    #[error("{0}")]
    Model(String),
    #[error("{0}")]
    Mat(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}
