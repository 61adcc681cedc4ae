/**
 * Data pipelines on the device: splits and mini-batches, batched image augmentations for
 * contrastive learning, and log-mel spectrograms. Readers for files and bytes are in `io`.
 */
export {
  permutationIndices, stratifiedSample, trainTestSplit, takeRows, numBatches, batches, type BatchOptions,
} from './batching.js';
export {
  randomResizedCrop, sampleCropBoxes, cropAndResize, cropResampleMatrix, randomHorizontalFlip, rgbToGrayscale,
  randomGrayscale, gaussianNoise, adjustBrightness, adjustContrast, adjustSaturation, adjustHue, colorJitter,
  simclrAugment, type RandomResizedCropOptions, type ColorJitterOptions, type SimclrAugmentOptions,
} from './augment.js';
export {
  logMelSpectrogram, logMelAmplitudeLimit, createLogMel, melFilterbank, hannWindow, hzToMel, melToHz, numFrames, windowedDftMatrix,
  type LogMel, type LogMelOptions,
} from './audio.js';
