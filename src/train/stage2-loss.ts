/**
 * Stage 2's loss over example groups of 1 + N pairs (the positive first; stage2-data.ts): the
 * scores times the learned scale are read as independent labelled pairs (`bce`, with the learned
 * bias) or as one softmax per group (`softmax`).
 *
 * logQ correction (sampled softmax). A softmax over the positive and N items drawn with
 * probability q learns the score of log p(item | user) − log q(item), not log p(item | user):
 * with popularity-drawn negatives it learns to rank an item by its lift over its popularity,
 * pushing the popular items down, while a top-10 list over every item rewards them. Subtracting
 * log q of each pair's item from its logit (the positive's included, as TensorFlow's
 * `sampled_softmax_loss` does) makes the sampled softmax estimate the full softmax over every
 * item. Yi et al., "Sampling-bias-corrected neural modeling for large corpus item
 * recommendations", RecSys 2019 (https://dl.acm.org/doi/10.1145/3298689.3346996); Jean et al.,
 * ACL 2015 (https://arxiv.org/abs/1412.2007); TensorFlow's `sampled_softmax_loss`
 * (https://www.tensorflow.org/api_docs/python/tf/nn/sampled_softmax_loss). The correction is in
 * the loss only: the served score is the model's own.
 *
 * Prior offset (served score in the loss). The engine serves score + λ·ln(1 + clickers)
 * (model/prior.ts). Trained on the score alone, the attention units spend their capacity on what
 * the prior already gives (popular items up) and the sum serves both twice. With `offset`, each
 * pair's λ·ln(1 + clickers of its item), λ fixed, is added to the score before the scale, so the
 * loss is the served score's and the gradient only asks the look-alike score for what popularity
 * does not explain — the same idea as a residual on a fixed base model (a "base margin" in
 * gradient boosting: https://xgboost.readthedocs.io/en/stable/prediction.html).
 */
import * as tf from '@tensorflow/tfjs';
import type { Params } from './stage2-model.js';

/**
 * The mean loss of `ng` groups of `size` scores (flattened, group-major). `logQ` (one value a
 * pair, or null) is subtracted from the softmax's logits; it has no meaning for `bce`. `offset`
 * (one value a pair, or null: the served prior) is added to each score before the scale.
 */
export function groupLoss(p: Params, score: tf.Tensor1D, ng: number, size: number, loss: 'bce' | 'softmax', logQ: Float32Array | null, offset: Float32Array | null = null): tf.Scalar {
  const served = offset ? tf.add(score, tf.tensor1d(offset)) : score;
  const logits = tf.mul(served, p.scale);
  if (loss === 'softmax') {
    let l2 = tf.reshape(logits, [ng, size]);
    if (logQ) l2 = tf.sub(l2, tf.tensor2d(logQ, [ng, size]));
    const first = tf.squeeze(tf.slice(l2, [0, 0], [ng, 1]), [1]);
    return tf.mean(tf.sub(tf.logSumExp(l2, 1), first)) as tf.Scalar;
  }
  const y = tf.tensor1d(Float32Array.from({ length: ng * size }, (_, r) => (r % size === 0 ? 1 : 0)));
  return tf.losses.sigmoidCrossEntropy(y, tf.add(logits, p.bias)) as tf.Scalar;
}
