import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { CommonConfig } from "../config/common-config";
import { imageRef, images } from "../images";

/**
 * The image the bridge runs: `cdm:bridgeImage` as given; with `cdm:bridgeImageBuild`, this
 * repository's Dockerfile built by the Docker daemon of the `pulumi up` run and pushed to the
 * mirror as the pinned reference's path (credentials from the local Docker configuration), run
 * by digest so each new build rolls the pods; otherwise the pinned reference, through the mirror.
 */
export function bridgeImage(
    name: string,
    config: Pick<CommonConfig, "bridgeImage" | "imageRegistryMirror">,
    parent: pulumi.Resource,
): pulumi.Input<string> {
    if (config.bridgeImage.reference) return config.bridgeImage.reference;
    const pinned = imageRef(images.bridge, config.imageRegistryMirror);
    if (!config.bridgeImage.build) return pinned;
    // Paths are relative to the project directory, where Pulumi runs the program, so the
    // resource's inputs do not change from one checkout to another.
    const built = new docker.Image(
        `${name}-bridge-image`,
        {
            build: { context: "." },
            imageName: pinned,
            // The config module refuses a build without a mirror.
            registry: { server: config.imageRegistryMirror!.split("/")[0] },
        },
        { parent },
    );
    return built.repoDigest;
}
