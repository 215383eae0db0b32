//! The gallery: screenshots compared with the last green build: visual regressions are why people store
//! screenshots. A build's baseline is the newest successful build of its branch numbered below
//! it, else of the project's default branch (`main` unless set). An image with the same
//! container and path there is compared by its SHA-256 (changed or not), and, when opened, pixel
//! by pixel: how many pixels changed, and an image of where (changed pixels in red over a faded
//! copy of the new image).
//!
//! Images are hostile input: sizes are read from the headers before anything is decoded, both
//! images and the comparison are bounded in pixels and counted against an untrusted-content
//! budget, and decoding runs on the blocking pool a few at a time. Results, and refusals, are
//! kept by the two SHA-256s: stored bytes never change.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use image::GenericImageView;

use super::artifacts::{ArtifactRef, Artifacts, Readable};
use super::builds::Builds;
use super::error::{ServiceError, ServiceResult};
use super::principal::Principal;
use super::projects::Projects;
use super::untrusted::{Budget, HeavyWork, Limits, Work};
use crate::domain::NodeIndex;
use crate::storage::Storage;
use vitrine_store::{Artifact, ArtifactKind, Build, Project};

/// Images larger than this are not compared pixel by pixel.
pub const MAX_COMPARED_BYTES: i64 = 32 << 20;
/// Nor are images with more pixels than this, nor pairs whose comparison (as wide as the
/// wider, as tall as the taller) would have more: a wide image against a tall one makes a
/// canvas of the one's width by the other's height.
const MAX_PIXELS: u64 = 16_000_000;
/// A pixel counts as changed when a channel moved by more than this (of 255): rendering noise
/// stays below it.
pub const CHANNEL_TOLERANCE: u8 = 8;
/// What the cache of pixel comparisons may hold, in bytes of difference images.
const CACHE_BYTES: u64 = 64 << 20;
/// Time a comparison may take.
const COMPARE_TIME: std::time::Duration = std::time::Duration::from_secs(10);

/// An image of a build against the same path in its baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The same bytes.
    Same,
    Changed,
    /// Not in the baseline.
    New,
}

/// A pixel comparison of two images.
#[derive(Debug, Clone)]
pub struct PixelDiff {
    pub width: u32,
    pub height: u32,
    pub baseline_size: (u32, u32),
    pub current_size: (u32, u32),
    pub changed_pixels: u64,
    /// Where they changed, as a PNG.
    pub png: Bytes,
}

/// A comparison, or why the two images cannot be compared: both are kept, by the two
/// SHA-256s (stored bytes never change, so a hostile image costs its decoding once).
pub type Compared = super::lookups::Refusable<Arc<PixelDiff>>;

#[derive(Clone)]
pub struct Weigh;

impl quick_cache::Weighter<(String, String), Arc<Compared>> for Weigh {
    fn weight(&self, _key: &(String, String), compared: &Arc<Compared>) -> u64 {
        256 + match &**compared {
            Ok(diff) => diff.png.len() as u64,
            Err(why) => why.len() as u64,
        }
    }
}

/// Pixel comparisons by the SHA-256s of the baseline and the current image.
pub type DiffCache = super::lookups::Kept<(String, String), Compared, Weigh>;

impl Default for DiffCache {
    fn default() -> Self {
        // The largest difference image: a PNG of MAX_PIXELS, mostly flat colour.
        Self::new("image_diffs", 1024, CACHE_BYTES, 16 << 20, Weigh)
    }
}

/// A build's screenshots against its baseline's.
#[derive(Clone)]
pub struct Gallery {
    storage: Storage,
    projects: Projects,
    builds: Builds,
    artifacts: Artifacts,
    heavy: HeavyWork,
    /// Screenshots compared pixel by pixel, by the SHA-256s of the two images.
    diffs: DiffCache,
}

impl Gallery {
    pub fn new(
        storage: Storage,
        projects: Projects,
        builds: Builds,
        artifacts: Artifacts,
        heavy: HeavyWork,
    ) -> Gallery {
        Gallery { storage, projects, builds, artifacts, heavy, diffs: DiffCache::default() }
    }

    /// A page of a build's images in listing order, `limit` of them after `after` (a node
    /// and a path).
    pub async fn images(&self, build: &Build, after: Option<(i64, &str)>, limit: i64) -> ServiceResult<Vec<Artifact>> {
        self.artifacts.of_kind(build, ArtifactKind::Image, after, limit).await
    }

    /// The build whose screenshots this build's are compared with.
    pub async fn baseline(&self, project: &Project, build: &Build) -> ServiceResult<Option<Build>> {
        if let Some(green) = self.builds.last_green_before(project.id, &build.branch, build.build_num).await? {
            return Ok(Some(green));
        }
        let default = self.projects.default_branch(project.id).await?;
        if default == build.branch {
            return Ok(None);
        }
        self.builds.last_green_before(project.id, &default, build.build_num).await
    }

    /// The baseline of a build, and its image at `current`'s container and path, if any.
    pub async fn baseline_image(
        &self,
        project: &Project,
        build: &Build,
        current: &Artifact,
    ) -> ServiceResult<Option<(Build, Option<Artifact>)>> {
        let Some(baseline) = self.baseline(project, build).await? else { return Ok(None) };
        let node = NodeIndex(current.node_index);
        let theirs = (self.artifacts.stored_at(baseline.id, node, &current.pretty_path).await?)
            .filter(|a| a.content_type.starts_with("image/"));
        Ok(Some((baseline, theirs)))
    }

    /// The pixel difference of an image of a build with the same image of its baseline, for
    /// a reader of the build (audited as a read of a private project's image).
    pub async fn image_diff(
        &self,
        who: &Principal,
        at: &ArtifactRef,
        client: Option<std::net::IpAddr>,
    ) -> ServiceResult<Arc<PixelDiff>> {
        let ArtifactRef { node, path, .. } = at;
        let node = *node;
        let (project, build, readable) = self.artifacts.read_artifact(who, at, client).await?;
        let Readable::Stored(current) = readable else {
            return Err(ServiceError::NotFound("Images in archives are not compared".into()));
        };
        let Some((baseline, theirs)) = self.baseline_image(&project, &build, &current).await? else {
            return Err(ServiceError::NotFound(format!(
                "Build {} has no green build to compare with",
                build.build_num
            )));
        };
        let Some(theirs) = theirs else {
            return Err(ServiceError::NotFound(format!(
                "Build {} has no image `{path}` in container {node}",
                baseline.build_num
            )));
        };
        self.pixel_diff(&theirs, &current).await
    }

    /// How each of `images` compares with the baseline's image at its path, by SHA-256.
    pub async fn image_changes(
        &self,
        baseline: &Build,
        images: &[Artifact],
    ) -> ServiceResult<HashMap<(i64, String), Change>> {
        // The baseline's images in listing order, as many as may match the build's first page.
        let theirs = self.images(baseline, None, 2 * images.len().max(1) as i64).await?;
        let theirs: HashMap<(i64, &str), &str> =
            theirs.iter().map(|a| ((a.node_index, a.pretty_path.as_str()), a.sha256.as_str())).collect();
        Ok(images
            .iter()
            .map(|a| {
                let change = match theirs.get(&(a.node_index, a.pretty_path.as_str())) {
                    None => Change::New,
                    Some(sha) if *sha == a.sha256 => Change::Same,
                    Some(_) => Change::Changed,
                };
                ((a.node_index, a.pretty_path.clone()), change)
            })
            .collect())
    }

    /// Compares two image artifacts pixel by pixel (cached by their SHA-256s, refusals too),
    /// a few at a time ([`Work::Decode`]).
    pub async fn pixel_diff(&self, baseline: &Artifact, current: &Artifact) -> ServiceResult<Arc<PixelDiff>> {
        let key = (baseline.sha256.clone(), current.sha256.clone());
        let compared = self
            .diffs
            .get_or_make(key, async {
                for a in [baseline, current] {
                    if a.size > MAX_COMPARED_BYTES {
                        return Ok(Some(Err(format!(
                            "`{}` is too large to compare pixel by pixel ({} bytes; the limit is {MAX_COMPARED_BYTES})",
                            a.pretty_path, a.size
                        ))));
                    }
                }
                let permit = self.heavy.permit(Work::Decode)?;
                let old = self.storage.read_prefix(&baseline.s3_key, baseline.size as u64).await?;
                let new = self.storage.read_prefix(&current.s3_key, current.size as u64).await?;
                let budget = Budget::new(Limits {
                    read: (old.len() + new.len()) as u64,
                    // Both images decoded as RGBA and the canvas.
                    held: 3 * 4 * MAX_PIXELS,
                    output: 4 * MAX_PIXELS,
                    elements: MAX_PIXELS,
                    time: COMPARE_TIME,
                });
                let diff = self.heavy.blocking(permit, budget, move |budget| diff_images(&old, &new, budget)).await?;
                Ok::<_, ServiceError>(Some(diff.map(Arc::new)))
            })
            .await?
            .expect("a comparison is always made");
        super::lookups::answer(&compared)
    }
}

fn reader<'a>(bytes: &'a [u8], which: &str) -> Result<image::ImageReader<std::io::Cursor<&'a [u8]>>, String> {
    image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| format!("the {which} image cannot be read: {e}"))
}

/// An image's width and height, from its header alone.
fn dimensions(bytes: &[u8], which: &str) -> Result<(u32, u32), String> {
    reader(bytes, which)?.into_dimensions().map_err(|e| format!("the {which} image cannot be read: {e}"))
}

/// Decodes an image of `width` x `height` pixels (checked before) as RGBA, counting it as held.
fn decode(
    bytes: &[u8],
    which: &str,
    (width, height): (u32, u32),
    budget: &mut Budget,
) -> Result<image::RgbaImage, String> {
    let rgba = u64::from(width) * u64::from(height) * 4;
    budget.hold(rgba as usize).map_err(|e| format!("the {which} image is too large to compare: {e}"))?;
    let mut reader = reader(bytes, which)?;
    let mut limits = image::Limits::default();
    // Its pixels in their own format, then as RGBA (a copy unless it was RGBA already).
    limits.max_alloc = Some(2 * rgba + (4 << 20));
    limits.max_image_width = Some(width);
    limits.max_image_height = Some(height);
    reader.limits(limits);
    let image = reader.decode().map_err(|e| format!("the {which} image cannot be decoded: {e}"))?;
    if image.dimensions() != (width, height) {
        return Err(format!("the {which} image is not the size its header says"));
    }
    Ok(image.into_rgba8())
}

/// Compares two encoded images over the area both cover and beyond (where only one has
/// pixels, they count as changed). The sizes are read from the headers first: neither image
/// nor the comparison may exceed [`MAX_PIXELS`], so nothing large is decoded to be refused.
pub fn diff_images(old: &[u8], new: &[u8], budget: &mut Budget) -> Result<PixelDiff, String> {
    let (old_size, new_size) = (dimensions(old, "baseline")?, dimensions(new, "new")?);
    let (width, height) = (old_size.0.max(new_size.0), old_size.1.max(new_size.1));
    for (which, (w, h)) in [("baseline", old_size), ("new", new_size), ("compared", (width, height))] {
        let pixels = u64::from(w) * u64::from(h);
        if pixels > MAX_PIXELS {
            let what = if which == "compared" {
                format!("the two images together cover {w} x {h} pixels")
            } else {
                format!("the {which} image has {w} x {h} pixels")
            };
            return Err(format!("{what}; comparisons stop at {} megapixels", MAX_PIXELS / 1_000_000));
        }
    }
    let old = decode(old, "baseline", old_size, budget)?;
    let new = decode(new, "new", new_size, budget)?;
    budget.hold(width as usize * height as usize * 4).map_err(|e| format!("the comparison is too large: {e}"))?;
    let mut out = image::RgbaImage::new(width, height);
    let mut changed_pixels = 0u64;
    for (y, row) in out.enumerate_rows_mut() {
        budget.check().map_err(|e| format!("the comparison was stopped: {e}"))?;
        for (x, _, pixel) in row {
            let a = old.get_pixel_checked(x, y);
            let b = new.get_pixel_checked(x, y);
            let changed = match (a, b) {
                (Some(a), Some(b)) => a.0.iter().zip(b.0.iter()).any(|(p, q)| p.abs_diff(*q) > CHANNEL_TOLERANCE),
                _ => true,
            };
            *pixel = if changed {
                changed_pixels += 1;
                image::Rgba([230, 30, 50, 255])
            } else {
                // A faded grey copy of the image, so the red reads against it.
                let [r, g, b, _] = b.expect("unchanged pixels are in both").0;
                let luma = (u32::from(r) * 299 + u32::from(g) * 587 + u32::from(b) * 114) / 1000;
                let faded = (255 - (255 - luma) / 4) as u8;
                image::Rgba([faded, faded, faded, 255])
            };
        }
    }
    let mut png = Vec::new();
    let encoder = image::codecs::png::PngEncoder::new_with_quality(
        &mut png,
        image::codecs::png::CompressionType::Fast,
        image::codecs::png::FilterType::Adaptive,
    );
    out.write_with_encoder(encoder).map_err(|e| format!("the comparison cannot be drawn: {e}"))?;
    budget.emit(png.len()).map_err(|e| format!("the comparison is too large: {e}"))?;
    Ok(PixelDiff {
        width,
        height,
        baseline_size: old.dimensions(),
        current_size: new.dimensions(),
        changed_pixels,
        png: png.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roomy() -> Budget {
        Budget::new(Limits::ROOMY)
    }

    fn png(width: u32, height: u32, paint: impl Fn(u32, u32) -> [u8; 4]) -> Vec<u8> {
        let image = image::RgbaImage::from_fn(width, height, |x, y| image::Rgba(paint(x, y)));
        let mut out = Vec::new();
        image.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png).unwrap();
        out
    }

    #[test]
    fn changed_pixels_are_counted_and_painted_red() {
        let white = png(20, 10, |_, _| [255, 255, 255, 255]);
        // A 3x2 box turned black, and one pixel off by less than the tolerance.
        let boxed = png(20, 10, |x, y| match (x, y) {
            (2..5, 4..6) => [0, 0, 0, 255],
            (10, 1) => [250, 250, 250, 255],
            _ => [255, 255, 255, 255],
        });
        let diff = diff_images(&white, &boxed, &mut roomy()).unwrap();
        assert_eq!((diff.width, diff.height, diff.changed_pixels), (20, 10, 6));
        let image = image::load_from_memory(&diff.png).unwrap().to_rgba8();
        assert_eq!(image.get_pixel(3, 4).0, [230, 30, 50, 255]);
        assert_ne!(image.get_pixel(10, 1).0, [230, 30, 50, 255], "noise is not a change");
        assert_eq!(diff_images(&white, &white, &mut roomy()).unwrap().changed_pixels, 0);
    }

    #[test]
    fn a_resized_screenshot_counts_what_only_one_covers() {
        let small = png(10, 10, |_, _| [255, 255, 255, 255]);
        let wide = png(12, 10, |_, _| [255, 255, 255, 255]);
        let diff = diff_images(&small, &wide, &mut roomy()).unwrap();
        assert_eq!((diff.width, diff.changed_pixels), (12, 20));
        assert_eq!((diff.baseline_size, diff.current_size), ((10, 10), (12, 10)));
    }

    #[test]
    fn what_is_not_an_image_is_refused_in_words() {
        let err = diff_images(b"not an image", &png(1, 1, |_, _| [0, 0, 0, 255]), &mut roomy()).unwrap_err();
        assert!(err.contains("baseline image cannot be"), "{err}");
    }

    /// A wide screenshot against a tall one: each under the limit, the canvas far over it.
    /// Refused from their headers, before either is decoded.
    #[test]
    fn a_wide_image_against_a_tall_one_is_refused_before_decoding() {
        let header_only = |w: u32, h: u32| {
            // A PNG's signature and IHDR are all a size is read from; its pixels may be absent.
            let mut ihdr = b"IHDR".to_vec();
            ihdr.extend_from_slice(&w.to_be_bytes());
            ihdr.extend_from_slice(&h.to_be_bytes());
            ihdr.extend_from_slice(&[8, 6, 0, 0, 0]);
            let mut crc = flate2::Crc::new();
            crc.update(&ihdr);
            let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0d".to_vec();
            png.extend_from_slice(&ihdr);
            png.extend_from_slice(&crc.sum().to_be_bytes());
            // An empty IDAT: where a decoder stops reading the header.
            let mut crc = flate2::Crc::new();
            crc.update(b"IDAT");
            png.extend_from_slice(b"\0\0\0\0IDAT");
            png.extend_from_slice(&crc.sum().to_be_bytes());
            png
        };
        let mut budget = roomy();
        let err = diff_images(&header_only(19_999, 800), &header_only(800, 19_999), &mut budget).unwrap_err();
        assert!(err.contains("together cover 19999 x 19999 pixels"), "{err}");
        let err = diff_images(&header_only(19_999, 2_000), &header_only(10, 10), &mut budget).unwrap_err();
        assert!(err.contains("baseline image has 19999 x 2000 pixels"), "{err}");
    }
}
