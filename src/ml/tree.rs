//! Decision trees as Brook stores and evaluates them. linfa fits the tree;
//! Brook copies it into flat arrays and counts, per leaf, the training rows
//! of each class. Written here because linfa's leaves keep only the modal
//! class (no probabilities for PREDICT_PROBA or ROC AUC) and its ensemble
//! type has no serde support; the flat form also predicts without recursion.

use linfa_trees::{DecisionTree, TreeNode};
use ndarray::{ArrayView1, ArrayView2};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Node {
    feature: u32,
    threshold: f64,
    /// Children of a split; for a leaf, `left` is the leaf's index.
    left: u32,
    right: u32,
    leaf: bool,
}

/// A fitted tree: go left when `x[feature] < threshold` (linfa's rule).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlatTree {
    nodes: Vec<Node>,
    /// Per leaf, the probability of each class.
    leaves: Vec<Vec<f64>>,
    /// The leaf's class in linfa's tree, used when no training row reaches it.
    leaf_class: Vec<usize>,
    /// Mean impurity decrease per input column, normalised to sum to 1.
    pub importance: Vec<f64>,
}

impl FlatTree {
    /// Copy `tree`, then estimate leaf probabilities from `x`/`y` (`k` classes).
    pub fn from_linfa(
        tree: &DecisionTree<f64, usize>,
        x: ArrayView2<f64>,
        y: &[usize],
        k: usize,
    ) -> Self {
        let mut flat = FlatTree {
            nodes: vec![],
            leaves: vec![],
            leaf_class: vec![],
            importance: tree.feature_importance(),
        };
        flat.copy(tree.root_node());
        let mut counts = vec![vec![0.0; k]; flat.leaves.len()];
        for (row, class) in x.rows().into_iter().zip(y) {
            counts[flat.leaf(row)][*class] += 1.0;
        }
        for (leaf, c) in counts.into_iter().enumerate() {
            let total: f64 = c.iter().sum();
            flat.leaves[leaf] = if total > 0.0 {
                c.iter().map(|v| v / total).collect()
            } else {
                let mut p = vec![0.0; k];
                p[flat.leaf_class[leaf].min(k - 1)] = 1.0;
                p
            };
        }
        flat
    }

    fn copy(&mut self, node: &TreeNode<f64, usize>) -> u32 {
        let at = self.nodes.len() as u32;
        if node.is_leaf() {
            return self.push_leaf(node);
        }
        let (feature, threshold, _) = node.split();
        self.nodes.push(Node {
            feature: feature as u32,
            threshold,
            left: 0,
            right: 0,
            leaf: false,
        });
        let children = node.children();
        let left = match children[0] {
            Some(child) => self.copy(child),
            None => self.push_leaf(node),
        };
        let right = match children[1] {
            Some(child) => self.copy(child),
            None => self.push_leaf(node),
        };
        self.nodes[at as usize].left = left;
        self.nodes[at as usize].right = right;
        at
    }

    /// Add a leaf predicting `node`'s class: `node` itself, or the split
    /// whose missing child it stands in for. Returns its node index.
    fn push_leaf(&mut self, node: &TreeNode<f64, usize>) -> u32 {
        let at = self.nodes.len() as u32;
        let leaf = self.leaves.len() as u32;
        self.leaves.push(vec![]);
        self.leaf_class.push(node.prediction().unwrap_or(0));
        self.nodes.push(Node {
            feature: 0,
            threshold: 0.0,
            left: leaf,
            right: leaf,
            leaf: true,
        });
        at
    }

    fn leaf(&self, row: ArrayView1<f64>) -> usize {
        let mut at = 0usize;
        loop {
            let node = &self.nodes[at];
            if node.leaf {
                return node.left as usize;
            }
            at = if row[node.feature as usize] < node.threshold {
                node.left as usize
            } else {
                node.right as usize
            };
        }
    }

    /// Class probabilities of one row.
    pub fn proba(&self, row: ArrayView1<f64>) -> &[f64] {
        &self.leaves[self.leaf(row)]
    }

    pub fn depth(&self) -> usize {
        fn depth(nodes: &[Node], at: usize) -> usize {
            let n = &nodes[at];
            if n.leaf {
                1
            } else {
                1 + depth(nodes, n.left as usize).max(depth(nodes, n.right as usize))
            }
        }
        depth(&self.nodes, 0)
    }

    pub fn leaf_count(&self) -> usize {
        self.leaves.len()
    }
}
