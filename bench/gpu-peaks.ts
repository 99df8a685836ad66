/**
 * Memory bandwidth of GPU families by their vendors' datasheets, matched against the WebGPU
 * adapter's name, for the fraction of the device's bandwidth a kernel reaches. A family not listed
 * gets no fraction (null), never a guess.
 *   NVIDIA H200: https://www.nvidia.com/en-us/data-center/h200/ (HBM3e, 4.8 TB/s)
 *   NVIDIA H100: https://www.nvidia.com/en-us/data-center/h100/ (SXM 3.35 TB/s, PCIe/NVL 2.0 TB/s)
 *   NVIDIA A100: https://www.nvidia.com/en-us/data-center/a100/ (80 GB SXM 2,039 GB/s, 40 GB 1,555 GB/s)
 *   NVIDIA L4:   https://www.nvidia.com/en-us/data-center/l4/ (300 GB/s)
 */
const PEAKS: ReadonlyArray<{ match: RegExp; gbPerSec: number; family: string }> = [
  { match: /H200/i, gbPerSec: 4800, family: 'NVIDIA H200' },
  { match: /H100.*(PCIe|NVL)/i, gbPerSec: 2000, family: 'NVIDIA H100 PCIe' },
  { match: /H100/i, gbPerSec: 3350, family: 'NVIDIA H100 SXM' },
  { match: /A100.*80/i, gbPerSec: 2039, family: 'NVIDIA A100 80 GB' },
  { match: /A100/i, gbPerSec: 1555, family: 'NVIDIA A100 40 GB' },
  { match: /\bL4\b/i, gbPerSec: 300, family: 'NVIDIA L4' },
];

/** The datasheet bandwidth of the adapter's family, or null when it is not listed. */
export function knownPeakBandwidth(adapterName: string): { gbPerSec: number; family: string } | null {
  const p = PEAKS.find((x) => x.match.test(adapterName));
  return p ? { gbPerSec: p.gbPerSec, family: p.family } : null;
}
