import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { CommonConfig } from "./config/common-config";
import { imageRef, images } from "./images";

/** The images this repository's Dockerfile builds, each a target of it. */
export type RuntimeImage = "bridge" | "vpn";

/**
 * The image a runtime service runs: the explicit reference when the stack gives one
 * (`cdm:bridgeImage`, `cdm:vpnImage`); with `cdm:runtimeImageBuild`, the Dockerfile's target of
 * that name built by the Docker daemon of the `pulumi up` run and pushed to the mirror as the
 * pinned reference's path (credentials from the local Docker configuration), run by digest so
 * each new build rolls the pods; otherwise the pinned reference, through the mirror.
 */
export function runtimeImage(
    name: string,
    image: RuntimeImage,
    config: Pick<CommonConfig, "runtimeImages" | "imageRegistryMirror">,
    parent: pulumi.Resource,
): pulumi.Input<string> {
    const explicit = config.runtimeImages[image];
    if (explicit) return explicit;
    const pinned = imageRef(images[image], config.imageRegistryMirror);
    if (!config.runtimeImages.build) return pinned;
    // Paths are relative to the project directory, where Pulumi runs the program, so the
    // resource's inputs do not change from one checkout to another.
    const built = new docker.Image(
        `${name}-${image}-image`,
        {
            build: { context: ".", target: image },
            imageName: pinned,
            // The config module refuses a build without a mirror.
            registry: { server: config.imageRegistryMirror!.split("/")[0] },
        },
        { parent },
    );
    return built.repoDigest;
}
