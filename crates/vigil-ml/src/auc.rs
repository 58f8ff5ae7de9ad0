//! ROC-AUC: the probability that a random outlier scores above a random inlier, ties counting a
//! half (the Mann-Whitney U statistic over average ranks), as scikit-learn's `roc_auc_score`.

/// `labels`: true for an outlier. `None` when one class is missing.
pub fn roc_auc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    let n = scores.len().min(labels.len());
    let mut idx: Vec<usize> = (0..n).collect();
    idx.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let (mut rank_sum, mut pos) = (0.0f64, 0usize);
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && scores[idx[j + 1]] == scores[idx[i]] {
            j += 1;
        }
        // Ranks i+1 ..= j+1 share their average.
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            if labels[k] {
                rank_sum += avg;
                pos += 1;
            }
        }
        i = j + 1;
    }
    let neg = n - pos;
    if pos == 0 || neg == 0 {
        return None;
    }
    Some((rank_sum - (pos * (pos + 1)) as f64 / 2.0) / (pos as f64 * neg as f64))
}

#[cfg(test)]
mod tests {
    use super::roc_auc;

    #[test]
    fn perfect_reversed_and_tied() {
        assert_eq!(roc_auc(&[0.1, 0.2, 0.8, 0.9], &[false, false, true, true]), Some(1.0));
        assert_eq!(roc_auc(&[0.9, 0.8, 0.2, 0.1], &[false, false, true, true]), Some(0.0));
        assert_eq!(roc_auc(&[0.5, 0.5, 0.5, 0.5], &[false, true, false, true]), Some(0.5));
        // One outlier above two of three inliers, tied with the third: (2 + 0.5) / 3.
        assert!((roc_auc(&[0.1, 0.2, 0.7, 0.7], &[false, false, false, true]).unwrap() - 2.5 / 3.0).abs() < 1e-12);
        assert_eq!(roc_auc(&[0.1, 0.2], &[false, false]), None);
    }
}
